// Registers this device as a posemesh node with a DDS (wallet flow) and exits.
//
// The app supplies the I/O: an HttpClient over java.net.http, a SnapshotStore in a file and a
// Logger printing to stderr. (Pass nothing instead and the library uses its built-in client.)
//
//   POSEMESH_DDS_URL              DDS base URL (required)
//   POSEMESH_PRIVATE_KEY          node key as hex (default: a fresh random key)
//   POSEMESH_REGISTRATION_SECRET  registration credentials (default: a demo value)
//   POSEMESH_STATE_FILE           where to keep the registration state (default: a temp file)
//
// Exit status: 0 registered, 1 the DDS refused or could not be reached, 2 bad configuration.
// bindings-uniffi/test.sh compiles and runs it against the conformance DDS.
package examples

import com.posemesh.registration.HttpClient
import com.posemesh.registration.HttpHeader
import com.posemesh.registration.HttpRequest
import com.posemesh.registration.HttpResponse
import com.posemesh.registration.LogEvent
import com.posemesh.registration.LogLevel
import com.posemesh.registration.Logger
import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.SnapshotStore
import com.posemesh.registration.TransportErrorKind
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.future.await
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import java.io.IOException
import java.net.ConnectException
import java.net.URI
import java.net.http.HttpRequest.BodyPublishers
import java.net.http.HttpResponse.BodyHandlers
import java.net.http.HttpTimeoutException
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.StandardCopyOption
import java.time.Duration
import kotlin.system.exitProcess
import java.net.http.HttpClient as JdkHttpClient

/** The app's HTTP client, adapted to the library's [HttpClient]. */
class JavaNetHttpClient : HttpClient {
    private val client = JdkHttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(10)) // java.net.http has no default timeout
        .followRedirects(JdkHttpClient.Redirect.NEVER) // never carry the signed body elsewhere
        .build()

    override suspend fun send(request: HttpRequest): HttpResponse {
        val builder = java.net.http.HttpRequest.newBuilder(URI.create(request.url()))
            .timeout(request.timeout())
            .method(request.method(), BodyPublishers.ofByteArray(request.body()))
        request.headers().forEach { builder.header(it.name, it.value) }
        try {
            // await() cancels the exchange if the registrar cancels this coroutine.
            val response = client.sendAsync(builder.build(), BodyHandlers.ofInputStream()).await()
            // The registrar reads at most 64 KiB of a body: stop there.
            val body = withContext(Dispatchers.IO) { response.body().use { it.readNBytes(64 * 1024) } }
            val headers = response.headers().map().flatMap { (name, values) -> values.map { HttpHeader(name, it) } }
            return HttpResponse(response.statusCode(), headers, body)
        } catch (e: HttpTimeoutException) {
            throw RegistrationException.Http(TransportErrorKind.TIMEOUT, e.toString())
        } catch (e: ConnectException) {
            throw RegistrationException.Http(TransportErrorKind.CONNECT, e.toString())
        } catch (e: IOException) {
            throw RegistrationException.Http(TransportErrorKind.IO, e.toString())
        }
    }
}

/** Keeps the snapshot in a file, replaced atomically. On Android: EncryptedSharedPreferences. */
class FileSnapshotStore(private val path: Path) : SnapshotStore {
    // Blocking file I/O belongs on Dispatchers.IO; the library awaits these suspend functions.
    override suspend fun load(): ByteArray? = withContext(Dispatchers.IO) {
        if (Files.exists(path)) Files.readAllBytes(path) else null
    }

    override suspend fun save(snapshot: ByteArray) = withContext(Dispatchers.IO) {
        Files.createDirectories(path.toAbsolutePath().parent)
        val temp = Files.createTempFile(path.toAbsolutePath().parent, ".registration", ".tmp")
        Files.write(temp, snapshot)
        Files.move(temp, path, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING)
        Unit
    }
}

/** Prints events; they never contain the key or the registration secret. */
class StderrLogger : Logger {
    override fun log(event: LogEvent) {
        if (event.level >= LogLevel.INFO) System.err.println("[${event.level}] ${event.name}: ${event.message}")
    }
}

fun main() {
    val code = runBlocking { register() }
    exitProcess(code)
}

suspend fun register(): Int {
    val ddsUrl = System.getenv("POSEMESH_DDS_URL")
        ?: return 2.also { System.err.println("error: set POSEMESH_DDS_URL to the DDS base URL") }
    val key = try {
        System.getenv("POSEMESH_PRIVATE_KEY")?.let { NodeKey.fromHex(it) } ?: NodeKey.generate()
    } catch (e: RegistrationException.InvalidKey) {
        System.err.println("error: POSEMESH_PRIVATE_KEY: ${e.reason}") // never echoes the key
        return 2
    }
    val secret = System.getenv("POSEMESH_REGISTRATION_SECRET") ?: "demo-registration-secret"
    val stateFile = System.getenv("POSEMESH_STATE_FILE")?.let { Path.of(it) }
        ?: Files.createTempDirectory("posemesh-example").resolve("registration.json")

    val config = RegistrarConfig(
        ddsUrl = ddsUrl,
        flow = RegistrationFlow.Wallet,
        nodeVersion = "1.0.0",
        capabilities = listOf("/capture/scan/v1"),
    )
    key.use {
        try {
            // create() suspends while the store loads (the blocking constructor would wait on this thread).
            Registrar.create(config, key, secret, JavaNetHttpClient(), FileSnapshotStore(stateFile), StderrLogger()).use { registrar ->
                registrar.registerOnce()
                println("registered ${registrar.address()} with $ddsUrl (status ${registrar.status()})")
                println(registrar) // shows the DDS, the address and the status; never a secret
            }
        } catch (e: RegistrationException.InvalidConfig) {
            System.err.println("error: ${e.message}") // the Rust text; never a secret
            return 2
        } catch (e: RegistrationException.AttemptFailed) {
            System.err.println("error: ${e.message}") // "registration attempt failed (retry_fast): …"
            return 1
        }
    }
    return 0
}
