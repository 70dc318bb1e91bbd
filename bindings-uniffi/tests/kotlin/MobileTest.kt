package com.posemesh.registration.tests

import com.posemesh.registration.AttemptOutcome
import com.posemesh.registration.CancelToken
import com.posemesh.registration.FailureClass
import com.posemesh.registration.HttpClient
import com.posemesh.registration.HttpRequest
import com.posemesh.registration.HttpResponse
import com.posemesh.registration.LogEvent
import com.posemesh.registration.Logger
import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.RegistrationStatus
import com.posemesh.registration.Signer
import com.posemesh.registration.SnapshotStore
import com.posemesh.registration.builtInHttpClient
import com.posemesh.registration.classifyResponse
import com.posemesh.registration.parseSiweChallenge
import com.posemesh.registration.siweNonceRequest
import com.posemesh.registration.statusChanges
import com.posemesh.registration.statusFlow
import com.posemesh.registration.walletRegistrationRequestSigned
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Timeout
import java.time.Duration
import java.time.Instant
import java.util.Collections
import java.util.UUID
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * What Android and JVM developers expect of the library: status as a Flow, readable
 * exceptions, Int status codes, foreign code that may throw anything, lifetimes that follow
 * close() and never the garbage collector, suspending stores, and a signer that keeps its key.
 * Against the conformance DDS started by test.sh.
 */
@Timeout(120)
class MobileTest {
    private val capability = "/capture/scan/v1"

    private fun config(intervalSeconds: Double? = null, timeoutSeconds: Double = 10.0) = RegistrarConfig(
        ddsUrl = MockDds.url,
        flow = RegistrationFlow.Wallet,
        nodeVersion = "1.2.3",
        capabilities = listOf(capability),
        registerIntervalSeconds = intervalSeconds,
        requestTimeoutSeconds = timeoutSeconds,
    )

    private fun secret() = "reg-secret-" + UUID.randomUUID()

    private fun received(): Int = MockDds.registrations().objs("received").size

    @BeforeEach
    fun resetMock() = MockDds.reset()

    // ---- 1. status observation ------------------------------------------------------------

    @Test
    fun statusFlowReportsEachTransition(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                val seen: MutableList<RegistrationStatus> = Collections.synchronizedList(mutableListOf())
                val collector = launch(Dispatchers.Default) { registrar.statusChanges().collect { seen.add(it) } }
                val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
                try {
                    val state = registrar.statusFlow(scope)
                    assertEquals(RegistrationStatus.DISCONNECTED, state.value)
                    withTimeout(5_000) { while (seen.isEmpty()) delay(10) }
                    assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                    withTimeout(5_000) { state.first { it == RegistrationStatus.REGISTERED } }
                    withTimeout(5_000) { while (RegistrationStatus.REGISTERED !in seen) delay(10) }
                    assertEquals(
                        listOf(RegistrationStatus.DISCONNECTED, RegistrationStatus.REGISTERING, RegistrationStatus.REGISTERED),
                        seen.toList(),
                    )
                    assertEquals(registrar.status(), state.value)
                } finally {
                    collector.cancel()
                    scope.cancel()
                }
            }
        }
    }

    @Test
    fun statusIsNeverStaleAfterAFailureOrAStop(): Unit = runBlocking {
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), client).use { registrar ->
                val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
                try {
                    val state = registrar.statusFlow(scope)
                    // A failed attempt with no loop to retry it: disconnected, not registering.
                    MockDds.faults("""{"status":503,"path":"/internal/v1/auth/siwe/request"}""")
                    assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                    assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                    assertEquals(RegistrationStatus.DISCONNECTED, registrar.info().status)
                    withTimeout(5_000) { state.first { it == RegistrationStatus.DISCONNECTED } }

                    // An attempt stopped mid-request: disconnected again, and the flow says so.
                    MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":8000,"pass_through":true}""")
                    val attempt = async(Dispatchers.Default) { runCatching { registrar.registerOnce() }.exceptionOrNull() }
                    withTimeout(5_000) { state.first { it == RegistrationStatus.REGISTERING } }
                    registrar.stop()
                    assertTrue(withTimeout(3_000) { attempt.await() } is RegistrationException.Stopped)
                    assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                    withTimeout(5_000) { state.first { it == RegistrationStatus.DISCONNECTED } }
                    assertTrue(registrar.waitForStatus(RegistrationStatus.DISCONNECTED, Duration.ofSeconds(1)))

                    // A running loop that keeps failing is registering (it retries) until closed.
                    MockDds.faults(*Array(50) { """{"status":503,"path":"/internal/v1/auth/siwe/request"}""" })
                    registrar.start().use {
                        withTimeout(5_000) { state.first { it == RegistrationStatus.REGISTERING } }
                        delay(300)
                        assertEquals(RegistrationStatus.REGISTERING, registrar.status())
                    }
                    assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                    withTimeout(5_000) { state.first { it == RegistrationStatus.DISCONNECTED } }
                } finally {
                    scope.cancel()
                }
            }
        }
    }

    // ---- 2. errors ------------------------------------------------------------------------

    @Test
    fun exceptionMessagesAreTheRustText(): Unit = runBlocking {
        val secret = secret()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret, JdkClient()).use { registrar ->
                registrar.start().use {
                    val running = assertFailsWith<RegistrationException.AlreadyRunning> { registrar.start() }
                    assertEquals("the registration loop is already running on this registrar", running.message)
                    assertEquals(running.message, running.toString())
                }
                // The loop's first attempt starts at once: its abandoned request may still reach
                // the DDS. Let it land before queueing the fault, and make the next attempt a real
                // one whether or not that request registered the node.
                delay(300)
                registrar.registerAgain()
                MockDds.faults("""{"status":503,"retry_after":"7","path":"/internal/v1/auth/siwe/request","body":"busy"}""")
                val failed = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                val message = assertNotNull(failed.message)
                assertTrue(message.startsWith("registration attempt failed (retry_fast): "), message)
                assertTrue(message.contains("status 503"), message)
                assertFalse(message.contains("failureClass="), message)
                assertFalse(message.contains(secret), message)

                MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":8000,"pass_through":true}""")
                val attempt = async(Dispatchers.Default) { runCatching { registrar.registerOnce() }.exceptionOrNull() }
                delay(300)
                registrar.stop()
                val stopped = withTimeout(3_000) { attempt.await() }
                assertTrue(stopped is RegistrationException.Stopped, "$stopped")
                assertEquals("stopped before the attempt finished", stopped.message)
            }
            val invalid = assertFailsWith<RegistrationException.InvalidConfig> {
                Registrar(config().copy(nodeVersion = " "), key, secret)
            }
            assertTrue(assertNotNull(invalid.message).startsWith("invalid configuration: "), invalid.message)
            assertFalse(invalid.message!!.contains("reason="), invalid.message)
        }
    }

    @Test
    fun httpStatusCodesAreInts(): Unit = runBlocking {
        // Int in, Int out: what OkHttp's response.code and HttpURLConnection give.
        val code: Int = 503
        val failure = assertNotNull(classifyResponse("http://dds/x", HttpResponse(code, emptyList(), ByteArray(0)), Instant.now()))
        val status: Int? = failure.status
        assertEquals(503, status)
        for (bad in listOf(-1, 0, 99, 1000)) {
            assertFailsWith<RegistrationException.InvalidInput>("accepted $bad") {
                classifyResponse("http://dds/x", HttpResponse(bad, emptyList(), ByteArray(0)), Instant.now())
            }
        }
        // A client handing back an impossible status makes a failed attempt that says why.
        val odd = object : HttpClient {
            override suspend fun send(request: HttpRequest) = HttpResponse(-1, emptyList(), ByteArray(0))
        }
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), odd).use { registrar ->
                val error = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertNull(error.status)
                assertTrue(error.detail.contains("HTTP status -1"), error.detail)
            }
        }
    }

    /** A store whose methods were left as `TODO()`: they throw NotImplementedError, an Error. */
    class TodoStore(private val todoLoad: Boolean) : SnapshotStore {
        val loads = AtomicInteger()
        override suspend fun load(): ByteArray? {
            loads.incrementAndGet()
            if (todoLoad) TODO("load from DataStore")
            return null
        }

        override suspend fun save(snapshot: ByteArray) = TODO("save to DataStore")
    }

    class TodoLogger : Logger {
        val calls = AtomicInteger()
        override fun log(event: LogEvent) {
            calls.incrementAndGet()
            TODO("send to Logcat")
        }
    }

    @Test
    fun storeThrowingAnErrorNeverCountsAsSaved(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            val unreadable = assertFailsWith<RegistrationException.Store> {
                Registrar(config(), key, secret(), JdkClient(), TodoStore(todoLoad = true))
            }
            assertTrue(unreadable.detail.contains("NotImplementedError"), unreadable.detail)
            assertTrue(unreadable.detail.contains("load from DataStore"), unreadable.detail)

            val logger = CapturingLogger()
            Registrar(config(), key, secret(), JdkClient(), TodoStore(todoLoad = false), logger).use { registrar ->
                withTimeout(15_000) { registrar.registerOnce() }
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
            }
            val failedSaves = synchronized(logger.events) { logger.events.filter { it.name == "state.save.error" } }
            assertTrue(failedSaves.isNotEmpty(), "no state.save.error in ${logger.names()}")
            assertTrue(failedSaves.all { it.message.contains("NotImplementedError") }, failedSaves.toString())
        }
    }

    @Test
    fun httpClientThrowingAnErrorIsAFailedAttempt(): Unit = runBlocking {
        val todo = object : HttpClient {
            override suspend fun send(request: HttpRequest): HttpResponse = TODO("OkHttp call")
        }
        val logger = TodoLogger()
        NodeKey.generate().use { key ->
            Registrar(config(timeoutSeconds = 20.0), key, secret(), todo, MemoryStore(), logger).use { registrar ->
                val startedAt = System.nanoTime()
                val error = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                val ms = (System.nanoTime() - startedAt) / 1_000_000
                // At once, not after the request timeout (20 s) as when the Error escaped.
                assertTrue(ms < 5_000, "took $ms ms")
                assertEquals(FailureClass.RETRY_FAST, error.failureClass)
                assertTrue(error.detail.contains("NotImplementedError") && error.detail.contains("OkHttp call"), error.detail)
                // The logger threw an Error at every call, and registration went on regardless.
                assertTrue(logger.calls.get() > 0)
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
            }
        }
    }

    // ---- 3. lifetimes ---------------------------------------------------------------------

    @Test
    fun closingTheLoopHandleStopsTheLoop(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(intervalSeconds = 1.0), key, secret(), JdkClient()).use { registrar ->
                val loop = registrar.start()
                assertTrue(loop.isActive())
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
                loop.close()
                assertFalse(registrar.isRunning())
                // A renewal's request the app's client had already sent may still land (dropping
                // the call does not interrupt a blocking JDK client): let it, then count.
                delay(500)
                // A running loop would carry this out at once (garbageCollectionNeverStopsAStartedLoop).
                val before = received()
                val acceptedBefore = MockDds.accepted().size
                registrar.registerAgain()
                delay(2_500)
                assertEquals(before, received(), "requests reached the DDS after close()")
                assertEquals(acceptedBefore, MockDds.accepted().size)
            }
        }
    }

    @Test
    fun garbageCollectionNeverStopsAStartedLoop(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(intervalSeconds = 1.0), key, secret(), JdkClient()).use { registrar ->
                startAndForget(registrar)
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
                repeat(5) {
                    System.gc()
                    delay(100)
                }
                assertTrue(registrar.isRunning(), "the loop stopped when its handle was collected")
                // The wallet flow parks once registered; asked to register again, the loop does.
                registrar.registerAgain()
                withTimeout(10_000) { while (MockDds.accepted().size < 2) delay(50) }
                assertTrue(registrar.isRunning())
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
            } // close() stops it
        }
    }

    /** Starts the loop and drops the handle: only the garbage collector sees it again. */
    private fun startAndForget(registrar: Registrar) {
        registrar.start()
    }

    @Test
    fun cancelTokenEndsTheAttempt(): Unit = runBlocking {
        // What the Swift layer does when its Task is cancelled (withTaskCancellationHandler).
        MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":8000,"pass_through":true}""")
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), client).use { registrar ->
                CancelToken().use { token ->
                    val attempt = async(Dispatchers.Default) { runCatching { registrar.registerOnceWith(token) }.exceptionOrNull() }
                    withTimeout(5_000) { client.started.await() }
                    val cancelAt = System.nanoTime()
                    token.cancel()
                    assertTrue(withTimeout(3_000) { attempt.await() } is RegistrationException.Stopped)
                    assertTrue((System.nanoTime() - cancelAt) / 1_000_000 < 2_000)
                    withTimeout(3_000) { while (client.cancelled.get() == 0) delay(20) }
                    // A cancelled token cancels later calls at once.
                    assertFailsWith<RegistrationException.Stopped> { registrar.runWith(token) }
                }
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
        }
    }

    // ---- 4. suspending store, signer, credentials as bytes --------------------------------

    /** A suspending store that records which thread ran it. */
    class ThreadRecordingStore : SnapshotStore {
        @Volatile var bytes: ByteArray? = null
        val threads: MutableList<String> = Collections.synchronizedList(mutableListOf())
        override suspend fun load(): ByteArray? {
            threads.add(Thread.currentThread().name)
            delay(50) // suspends, as DataStore's first() does
            return bytes
        }

        override suspend fun save(snapshot: ByteArray) {
            threads.add(Thread.currentThread().name)
            delay(10)
            bytes = snapshot
        }
    }

    @Test
    fun suspendingStoreRunsOffTheCallersThread(): Unit = runBlocking {
        val store = ThreadRecordingStore()
        val caller = Thread.currentThread().name
        NodeKey.generate().use { key ->
            Registrar.create(config(), key, secret(), JdkClient(), store).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
            assertTrue(String(assertNotNull(store.bytes)).contains("\"registered\""))
            assertTrue(store.threads.size >= 2, "${store.threads}")
            assertFalse(caller in store.threads, "store ran on the caller's thread $caller: ${store.threads}")
            // The blocking constructor resumes from the same store.
            Registrar(config(), key, secret(), JdkClient(), store).use { again ->
                assertEquals(RegistrationStatus.REGISTERED, again.status())
            }
            assertFalse(caller in store.threads, "${store.threads}")
        }
    }

    /**
     * A signer as a wallet SDK or a Keystore-backed signer would be: it hands out its address and
     * `personal_sign` signatures, never the key. (The key inside is a NodeKey only because the
     * test needs some secp256k1 implementation; the library is never given it.)
     */
    class WalletSigner : Signer {
        private val hidden = NodeKey.generate()
        val signed = AtomicInteger()
        val lastMessage = AtomicReference<String>()

        override fun address(): String = hidden.ethAddress()

        override suspend fun personalSign(message: ByteArray): ByteArray {
            signed.incrementAndGet()
            val text = String(message, Charsets.UTF_8)
            lastMessage.set(text)
            delay(10) // as a wallet prompt or a remote signer would
            return hexToBytes(hidden.signEip191(text))
        }

        fun hiddenKeyHex(): String = hidden.exportPrivateKeyBytes().joinToString("") { "%02x".format(it) }
    }

    @Test
    fun signerSignsWithoutTheKey(): Unit = runBlocking {
        val signer = WalletSigner()
        val client = JdkClient()
        val secret = secret()
        // SIWE step 1 with the signer's address, step 2 signed by the signer.
        val nonce = client.send(siweNonceRequest(MockDds.url, signer.address()))
        assertEquals(200, nonce.status)
        val challenge = parseSiweChallenge(nonce.body)
        val request = walletRegistrationRequestSigned(MockDds.url, challenge, "1.2.3", listOf(capability), secret, signer)
        assertEquals(1, signer.signed.get())
        assertTrue(signer.lastMessage.get().contains(challenge.nonce))
        val response = client.send(request)
        assertNull(classifyResponse(request.url(), response, Instant.now()), String(response.body))
        val accepted = MockDds.accepted().single()
        assertEquals(signer.address(), accepted.str("address"))
        assertEquals("/internal/v1/nodes/register-wallet", accepted.str("path"))
        assertFalse(request.toString().contains(secret))
        assertFalse(request.toString().contains(signer.hiddenKeyHex()))

        // A signer whose signature is not its address's is refused before anything is sent.
        val impostor = object : Signer {
            override fun address(): String = signer.address()
            override suspend fun personalSign(message: ByteArray): ByteArray =
                NodeKey.generate().use { hexToBytes(it.signEip191(String(message))) }
        }
        val challenge2 = parseSiweChallenge(client.send(siweNonceRequest(MockDds.url, signer.address())).body)
        val refused = assertFailsWith<RegistrationException.InvalidInput> {
            walletRegistrationRequestSigned(MockDds.url, challenge2, "1.2.3", listOf(capability), secret, impostor)
        }
        assertTrue(refused.reason.contains("recovers to"), refused.reason)
        // A signer that throws (an Error, even) fails the call with what it threw.
        val todo = object : Signer {
            override fun address(): String = signer.address()
            override suspend fun personalSign(message: ByteArray): ByteArray = TODO("wallet SDK")
        }
        val failed = assertFailsWith<RegistrationException.Unexpected> {
            walletRegistrationRequestSigned(MockDds.url, challenge2, "1.2.3", listOf(capability), secret, todo)
        }
        assertTrue(failed.detail.contains("NotImplementedError"), failed.detail)
        assertEquals(1, MockDds.accepted().size)
    }

    @Test
    fun registrarWithASignerRegistersWithoutTheKey(): Unit = runBlocking {
        val signer = WalletSigner()
        val secret = secret()
        Registrar.withSigner(config(), signer, secret, JdkClient()).use { registrar ->
            assertEquals(signer.address(), registrar.address())
            assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            assertEquals(1, signer.signed.get(), "one signature per attempt")
            assertEquals(signer.address(), MockDds.accepted().single().str("address"))
            assertFalse(registrar.toString().contains(signer.hiddenKeyHex()))
            assertFalse(registrar.toString().contains(secret))
            // The loop asks again for each new attempt.
            registrar.registerAgain()
            assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            assertEquals(2, signer.signed.get())
        }
        // The legacy flow's signature needs the node's key.
        val legacy = assertFailsWith<RegistrationException.InvalidConfig> {
            Registrar.withSigner(
                config().copy(flow = RegistrationFlow.Legacy("http://127.0.0.1:9/")), signer, secret,
            )
        }
        assertTrue(legacy.reason.contains("wallet flow only"), legacy.reason)
    }

    @Test
    fun registrarWithAnImpostorOrFailingSignerSendsNothingAndFails(): Unit = runBlocking {
        val honest = WalletSigner()
        val impostor = object : Signer {
            override fun address(): String = honest.address()
            override suspend fun personalSign(message: ByteArray): ByteArray =
                NodeKey.generate().use { hexToBytes(it.signEip191(String(message))) }
        }
        val declining = object : Signer {
            override fun address(): String = honest.address()
            override suspend fun personalSign(message: ByteArray): ByteArray =
                throw RegistrationException.Unexpected("the user declined")
        }
        val todo = object : Signer {
            override fun address(): String = honest.address()
            override suspend fun personalSign(message: ByteArray): ByteArray = TODO("wallet SDK")
        }
        for ((signer, expected) in listOf(impostor to "recovers to", declining to "the user declined", todo to "NotImplementedError")) {
            Registrar.withSigner(config(), signer, secret(), JdkClient()).use { registrar ->
                val failed = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertTrue(failed.message!!.contains("the remote signer did not sign") && failed.message!!.contains(expected), failed.message)
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
            }
        }
        // Only nonce requests reached the DDS: nothing was registered.
        assertTrue(MockDds.accepted().isEmpty())
    }

    @Test
    fun builtInHttpClientTakesAProxyAndACaBundle(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            // A proxy that is not there: the attempt fails to connect, whatever the DDS.
            val viaDeadProxy = builtInHttpClient(proxyUrl = "http://127.0.0.1:9")
            Registrar(config(), key, secret(), viaDeadProxy).use { registrar ->
                val failed = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertTrue(failed.message!!.contains("connect"), failed.message)
            }
            // Without options it is the default client: it reaches the DDS.
            Registrar(config(), key, secret(), builtInHttpClient()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
            val badProxy = assertFailsWith<RegistrationException.InvalidConfig> {
                builtInHttpClient(proxyUrl = "http://user:hunter2@[bad")
            }
            assertFalse(badProxy.message!!.contains("hunter2"), badProxy.message)
            val badPem = assertFailsWith<RegistrationException.InvalidConfig> {
                builtInHttpClient(caBundlePem = "not a certificate")
            }
            assertTrue(badPem.reason.isNotBlank())
        }
    }

    @Test
    fun siweDomainsTrustTheNameTheDdsGivesItself(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            // Reached as localhost, the DDS names itself 127.0.0.1: the same machine.
            val byLocalhost = "http://localhost:" + MockDds.url.substringAfterLast(':')
            Registrar(config().copy(ddsUrl = byLocalhost), key, secret()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
            // A DDS naming its public domain: refused unless siweDomains names it.
            MockDds.siweDomain("dds.public.example")
            Registrar(config(), key, secret()).use { registrar ->
                val refused = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertTrue(refused.message!!.contains("not the DDS"), refused.message)
            }
            val trusted = config().copy(siweDomains = listOf("dds.public.example"))
            Registrar(trusted, key, secret()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
            val url = config().copy(siweDomains = listOf("https://dds.public.example"))
            val error = assertFailsWith<RegistrationException.InvalidConfig> { Registrar(url, key, secret()) }
            assertTrue(error.message!!.contains("SIWE domain"), error.message)
        }
    }

    @Test
    fun credentialsAreAcceptedAsBytes(): Unit = runBlocking {
        val keyBytes = NodeKey.generate().use { it.exportPrivateKeyBytes() }
        val secret = secret()
        NodeKey.fromBytes(keyBytes).use { key ->
            Registrar.withCredentialBytes(config(), key, secret.toByteArray(), JdkClient()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                assertEquals(key.ethAddress(), MockDds.accepted().single().str("address"))
                assertFalse(registrar.toString().contains(secret))
            }
            val notUtf8 = byteArrayOf(0x73, 0x65, 0xC3.toByte(), 0x28)
            val error = assertFailsWith<RegistrationException.InvalidConfig> {
                Registrar.withCredentialBytes(config(), key, notUtf8)
            }
            assertEquals("invalid configuration: registration credentials must be UTF-8 text", error.message)
        }
        assertNotEquals(0, keyBytes.size)
    }
}

/** `0x`-prefixed or bare hex to bytes. */
fun hexToBytes(hex: String): ByteArray {
    val digits = hex.removePrefix("0x")
    return ByteArray(digits.length / 2) { i -> digits.substring(2 * i, 2 * i + 2).toInt(16).toByte() }
}
