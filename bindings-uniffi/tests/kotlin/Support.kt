package com.posemesh.registration.tests

import com.posemesh.registration.HttpClient
import com.posemesh.registration.HttpHeader
import com.posemesh.registration.HttpRequest
import com.posemesh.registration.HttpResponse
import com.posemesh.registration.LogEvent
import com.posemesh.registration.Logger
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.SnapshotStore
import com.posemesh.registration.TransportErrorKind
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.future.await
import kotlinx.coroutines.withContext
import java.io.IOException
import java.net.ConnectException
import java.net.URI
import java.net.http.HttpConnectTimeoutException
import java.net.http.HttpRequest.BodyPublishers
import java.net.http.HttpResponse.BodyHandlers
import java.net.http.HttpTimeoutException
import java.time.Duration
import java.util.Collections
import java.util.concurrent.atomic.AtomicInteger
import java.net.http.HttpClient as JdkHttpClient

/** The largest response body the registrar looks at. */
const val MAX_BODY = 64 * 1024

/**
 * An [HttpClient] over `java.net.http`, as an app would write one. Records what it did, so
 * tests can assert afterwards (an assertion failing inside a callback would only hang or be
 * swallowed).
 */
class JdkClient : HttpClient {
    private val jdk: JdkHttpClient = JdkHttpClient.newBuilder()
        .connectTimeout(Duration.ofSeconds(5))
        .followRedirects(JdkHttpClient.Redirect.NEVER)
        .build()

    val sent = AtomicInteger()
    val cancelled = AtomicInteger()
    val requestTexts: MutableList<String> = Collections.synchronizedList(mutableListOf())
    /** Completed when the first request is on its way (for cancellation tests). */
    val started = CompletableDeferred<Unit>()

    override suspend fun send(request: HttpRequest): HttpResponse {
        sent.incrementAndGet()
        requestTexts.add(request.toString())
        val builder = java.net.http.HttpRequest.newBuilder(URI.create(request.url()))
            .timeout(request.timeout())
            .method(request.method(), BodyPublishers.ofByteArray(request.body()))
        for (header in request.headers()) builder.header(header.name, header.value)
        started.complete(Unit)
        try {
            val response = jdk.sendAsync(builder.build(), BodyHandlers.ofInputStream()).await()
            val body = withContext(Dispatchers.IO) {
                response.body().use { it.readNBytes(MAX_BODY) }
            }
            val headers = response.headers().map().flatMap { (name, values) ->
                values.map { HttpHeader(name, it) }
            }
            return HttpResponse(response.statusCode(), headers, body)
        } catch (e: CancellationException) {
            cancelled.incrementAndGet()
            throw e
        } catch (e: HttpConnectTimeoutException) {
            throw RegistrationException.Http(TransportErrorKind.CONNECT, e.toString())
        } catch (e: HttpTimeoutException) {
            throw RegistrationException.Http(TransportErrorKind.TIMEOUT, e.toString())
        } catch (e: ConnectException) {
            throw RegistrationException.Http(TransportErrorKind.CONNECT, e.toString())
        } catch (e: IOException) {
            throw RegistrationException.Http(TransportErrorKind.IO, e.toString())
        }
    }
}

/** An [HttpClient] that always throws [error] (or, if null, an IllegalStateException). */
class ThrowingClient(private val error: Exception?) : HttpClient {
    override suspend fun send(request: HttpRequest): HttpResponse {
        throw error ?: IllegalStateException("client exploded")
    }
}

/** A [SnapshotStore] in memory, counting saves. */
class MemoryStore(initial: ByteArray? = null) : SnapshotStore {
    @Volatile var bytes: ByteArray? = initial
    val saves = AtomicInteger()

    override suspend fun load(): ByteArray? = bytes

    override suspend fun save(snapshot: ByteArray) {
        saves.incrementAndGet()
        bytes = snapshot
    }
}

/** A [SnapshotStore] whose load and/or save throw. */
class BrokenStore(private val failLoad: Boolean, private val failSave: Boolean) : SnapshotStore {
    override suspend fun load(): ByteArray? {
        if (failLoad) throw RegistrationException.Store("keychain locked")
        return null
    }

    override suspend fun save(snapshot: ByteArray) {
        if (failSave) throw IllegalStateException("disk full")
    }
}

/** A [Logger] keeping every event. */
class CapturingLogger(private val explode: Boolean = false) : Logger {
    val events: MutableList<LogEvent> = Collections.synchronizedList(mutableListOf())

    override fun log(event: LogEvent) {
        events.add(event)
        if (explode) throw IllegalStateException("logger exploded")
    }

    fun names(): List<String> = synchronized(events) { events.map { it.name } }

    fun text(): String = synchronized(events) { events.joinToString("\n") { "${it.level} ${it.name} ${it.message} $it" } }
}

/** The conformance DDS started by test.sh, and its control API. */
object MockDds {
    val url: String = System.getenv("POSEMESH_DDS_URL")
        ?: error("POSEMESH_DDS_URL is not set: run the suite through bindings-uniffi/test.sh")

    private val jdk: JdkHttpClient = JdkHttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()

    private fun call(method: String, path: String, body: String? = null): String {
        val request = java.net.http.HttpRequest.newBuilder(URI.create(url + path))
            .timeout(Duration.ofSeconds(10))
            .header("content-type", "application/json")
            .method(method, if (body == null) BodyPublishers.noBody() else BodyPublishers.ofString(body))
            .build()
        val response = jdk.send(request, BodyHandlers.ofString())
        check(response.statusCode() in 200..299) { "$method $path: ${response.statusCode()} ${response.body()}" }
        return response.body()
    }

    fun reset() {
        call("POST", "/_control/reset")
    }

    /** Queues faults, each a JSON object as the control API takes it. */
    fun faults(vararg faults: String) {
        call("POST", "/_control/faults", """{"faults":[${faults.joinToString(",")}]}""")
    }

    fun registrations(): Map<String, Any?> = Json.parse(call("GET", "/_control/registrations")).obj()

    /** Access tokens issued from now on live this long. */
    fun tokenLifetime(ms: Long) {
        call("POST", "/_control/session", """{"token_lifetime_ms":$ms}""")
    }

    /** The name the DDS's SIWE challenges give it from now on (until `reset()`). */
    fun siweDomain(name: String) {
        call("POST", "/_control/session", """{"siwe_domain":"$name"}""")
    }

    /** The status the DDS answers a call made with `token`. */
    fun checkToken(token: String): Int {
        val request = java.net.http.HttpRequest.newBuilder(URI.create("$url/internal/v1/auth/check"))
            .timeout(Duration.ofSeconds(10))
            .header("authorization", "Bearer $token")
            .GET()
            .build()
        return jdk.send(request, BodyHandlers.ofString()).statusCode()
    }

    /** Successful sign-ins so far. */
    fun signIns(): Long = (registrations()["sign_ins"] as Number).toLong()

    /** Accepted registrations (`register` or `register-wallet`) so far. */
    fun accepted(): List<Map<String, Any?>> =
        registrations().objs("received").filter { it["accepted"] == true && it.str("path").contains("/nodes/register") }
}
