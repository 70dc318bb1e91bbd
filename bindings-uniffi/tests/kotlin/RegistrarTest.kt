package com.posemesh.registration.tests

import com.posemesh.registration.AttemptOutcome
import com.posemesh.registration.EventField
import com.posemesh.registration.FailureClass
import com.posemesh.registration.HttpHeader
import com.posemesh.registration.HttpResponse
import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.RegistrationStatus
import com.posemesh.registration.TransportErrorKind
import com.posemesh.registration.checkRegistrationCallback
import com.posemesh.registration.classifyResponse
import com.posemesh.registration.classifyTransportError
import com.posemesh.registration.isDdsUserAgent
import com.sun.net.httpserver.HttpServer
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Timeout
import java.net.InetSocketAddress
import java.nio.file.Files
import java.time.Duration
import java.time.Instant
import java.util.UUID
import java.util.concurrent.atomic.AtomicReference
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue
import kotlin.test.fail

/**
 * The registrar end to end against the conformance DDS on loopback (started by test.sh),
 * with Kotlin implementations of the foreign traits and with the built-in client and store.
 */
@Timeout(120)
class RegistrarTest {
    private val capability = "/capture/scan/v1"

    private fun config(
        flow: RegistrationFlow? = RegistrationFlow.Wallet,
        ddsUrl: String = MockDds.url,
        intervalSeconds: Double? = null,
        timeoutSeconds: Double? = 10.0,
    ) = RegistrarConfig(
        ddsUrl = ddsUrl,
        nodeVersion = "1.2.3",
        capabilities = listOf(capability),
        flow = flow,
        registerIntervalSeconds = intervalSeconds,
        requestTimeoutSeconds = timeoutSeconds,
    )

    private fun freshSecret() = "reg-secret-" + UUID.randomUUID()

    private fun NodeKey.hex() = exportPrivateKeyBytes().joinToString("") { "%02x".format(it) }

    /** Fails if any of [secrets] appears in any of [texts]. */
    private fun assertNoSecrets(secrets: List<String>, texts: List<String>) {
        for (secret in secrets) {
            for (text in texts) {
                assertFalse(text.contains(secret), "secret leaked into: ${text.take(300)}")
            }
        }
    }

    @BeforeEach
    fun resetMock() = MockDds.reset()

    @Test
    fun walletFlowWithAppClientStoreAndLogger(): Unit = runBlocking {
        val client = JdkClient()
        val store = MemoryStore()
        val logger = CapturingLogger()
        val secret = freshSecret()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret, client, store, logger).use { registrar ->
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                assertEquals(key.ethAddress(), registrar.address())

                val accepted = MockDds.accepted()
                assertEquals(1, accepted.size, "accepted: $accepted")
                assertEquals("/internal/v1/nodes/register-wallet", accepted[0].str("path"))
                assertEquals(key.ethAddress(), accepted[0].str("address"))
                assertEquals("1.2.3", accepted[0].str("version"))
                assertEquals(listOf(capability), accepted[0].strings("capabilities"))
                assertEquals(2, client.sent.get(), "nonce request + wallet registration through the app's client")

                val saved = String(assertNotNull(store.bytes))
                assertTrue(saved.contains("\"registered\""), "stored snapshot: $saved")
                assertTrue(store.saves.get() >= 2)

                val names = logger.names()
                for (name in listOf("status.transition", "registration.success")) {
                    assertTrue(name in names, "no $name in $names")
                }
                assertFalse("registration.loop.start" in names, "registerOnce() starts no loop: $names")
                // The event schema every runtime shares: names and units (ms) of the core's fields.
                val events = synchronized(logger.events) { logger.events.toList() }
                val moved = events.first { it.name == "status.transition" }
                assertEquals(
                    mapOf<String, EventField>(
                        "from" to EventField.Text("disconnected"),
                        "to" to EventField.Text("registering"),
                    ),
                    moved.fields,
                )
                val success = events.first { it.name == "registration.success" }
                assertEquals(setOf("elapsed_ms"), success.fields.keys)
                assertTrue(success.fields["elapsed_ms"] is EventField.Number, success.toString())
                val info = registrar.info()
                assertEquals(RegistrationStatus.REGISTERED, info.status)
                assertNotNull(info.lastHealthCheck)
                assertEquals(0u, info.attempt)
                assertNull(info.recoveredFrom)
                // A loop says it started, with the TTL in milliseconds.
                val loop = registrar.start()
                val started = withTimeout(5_000) {
                    while (synchronized(logger.events) { logger.events.none { it.name == "registration.loop.start" } }) delay(10)
                    synchronized(logger.events) { logger.events.first { it.name == "registration.loop.start" } }
                }
                assertEquals(EventField.Number(60_000L), started.fields["ttl_ms"])
                loop.cancel()

                assertNoSecrets(
                    listOf(secret, key.hex()),
                    listOf(logger.text(), registrar.toString(), key.toString(), info.toString()) + client.requestTexts,
                )
                assertTrue(key.toString().contains(key.ethAddress()), "key prints its address: $key")
            }
            // A new registrar over the same store resumes as registered.
            Registrar(config(), key, secret, client, store).use { again ->
                assertEquals(RegistrationStatus.REGISTERED, again.status())
            }
        }
    }

    @Test
    fun builtInClientAndStateFile(): Unit = runBlocking {
        val dir = Files.createTempDirectory("posemesh-uniffi")
        val path = dir.resolve("state/registration.json")
        val logger = CapturingLogger()
        val secret = freshSecret()
        try {
            NodeKey.generate().use { key ->
                Registrar.withStateFile(config(), key, secret, path.toString(), logger).use { registrar ->
                    registrar.registerOnce()
                    assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                    assertEquals(key.ethAddress(), MockDds.accepted().single().str("address"))
                    val saved = Files.readString(path)
                    assertTrue(saved.contains("\"registered\""), saved)
                    assertNoSecrets(listOf(secret, key.hex()), listOf(logger.text(), registrar.toString()))
                }
                Registrar.withStateFile(config(), key, secret, path.toString()).use { again ->
                    assertEquals(RegistrationStatus.REGISTERED, again.status())
                }
            }
        } finally {
            dir.toFile().deleteRecursively()
        }
    }

    @Test
    fun cancellingTheCoroutineCancelsTheAttempt(): Unit = runBlocking {
        // The nonce request is answered only after 8 s: long enough to cancel mid-request.
        MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":8000,"pass_through":true}""")
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, freshSecret(), client).use { registrar ->
                val attempt = launch(Dispatchers.Default) { registrar.registerOnce() }
                withTimeout(5_000) { client.started.await() }
                delay(200)
                val cancelAt = System.nanoTime()
                attempt.cancelAndJoin()
                val cancelMs = (System.nanoTime() - cancelAt) / 1_000_000
                assertTrue(cancelMs < 2_000, "cancellation took $cancelMs ms")
                // The app's HTTP call (a coroutine uniffi runs) is cancelled with it.
                withTimeout(3_000) { while (client.cancelled.get() == 0) delay(20) }
                assertTrue(MockDds.accepted().isEmpty())

                // The next attempt starts afresh and succeeds well before the delayed answer.
                val retryAt = System.nanoTime()
                registrar.registerOnce()
                val retryMs = (System.nanoTime() - retryAt) / 1_000_000
                assertTrue(retryMs < 5_000, "second attempt took $retryMs ms")
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                assertEquals(1, MockDds.accepted().size)
            }
        }
    }

    @Test
    fun ddsAnswersBecomeTypedExceptions(): Unit = runBlocking {
        val secret = freshSecret()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret, JdkClient()).use { registrar ->
                MockDds.faults("""{"status":503,"retry_after":"7","path":"/internal/v1/auth/siwe/request","body":"busy"}""")
                val busy = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertEquals(FailureClass.RETRY_FAST, busy.failureClass)
                assertEquals(503, busy.status)
                assertEquals(Duration.ofSeconds(7), busy.retryAfter)
                assertTrue(busy.detail.contains("status 503") && busy.detail.contains("busy"), busy.detail)

                MockDds.faults("""{"status":409,"path":"/internal/v1/nodes/register-wallet"}""")
                val conflict = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertEquals(FailureClass.CONFLICT, conflict.failureClass)

                MockDds.faults("""{"status":400,"path":"/internal/v1/nodes/register-wallet","body":"bad\nrequest"}""")
                val refused = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertEquals(FailureClass.RETRY_LATER, refused.failureClass)
                assertFalse(refused.detail.contains("\n"), "snippet is one line: ${refused.detail}")

                MockDds.faults("""{"status":200,"path":"/internal/v1/auth/siwe/request","body":"not json"}""")
                val unusable = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertEquals(FailureClass.RETRY_FAST, unusable.failureClass)

                assertNoSecrets(listOf(secret), listOf(busy, conflict, refused, unusable).map { "${it.message} $it" })
                // No loop will retry: not a stale REGISTERING.
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
                registrar.registerOnce()
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                // The hierarchy is sealed: this `when` needs no `else`.
                val all: List<RegistrationException> = listOf(busy, conflict)
                for (e in all) {
                    val kind = when (e) {
                        is RegistrationException.InvalidKey -> "key"
                        is RegistrationException.InvalidConfig -> "config"
                        is RegistrationException.InvalidInput -> "input"
                        is RegistrationException.AttemptFailed -> "attempt"
                        is RegistrationException.Http -> "http"
                        is RegistrationException.Store -> "store"
                        is RegistrationException.CallbackRejected -> "callback"
                        is RegistrationException.AlreadyRunning -> "running"
                        is RegistrationException.Stopped -> "stopped"
                        is RegistrationException.Closed -> "closed"
                        is RegistrationException.Unexpected -> "unexpected"
                    }
                    assertEquals("attempt", kind)
                }
            }
        }
    }

    @Test
    fun transportFailuresAreRetryFast(): Unit = runBlocking {
        // Nothing listens on port 1 of loopback.
        val closed = "http://127.0.0.1:1"
        val secret = freshSecret()
        NodeKey.generate().use { key ->
            val cases = listOf(
                JdkClient() to "could not connect",
                ThrowingClient(RegistrationException.Http(TransportErrorKind.TIMEOUT, "too slow")) to "timed out: too slow",
                ThrowingClient(null) to "client exploded",
                null to "POST $closed",
            )
            for ((client, expected) in cases) {
                Registrar(config(ddsUrl = closed), key, secret, client).use { registrar ->
                    val error = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                    assertEquals(FailureClass.RETRY_FAST, error.failureClass)
                    assertNull(error.status)
                    assertTrue(error.detail.contains(expected), "'${error.detail}' lacks '$expected'")
                    assertNoSecrets(listOf(secret), listOf(error.toString(), error.message ?: ""))
                }
            }
        }
    }

    @Test
    fun invalidConfigurationIsRefused() {
        val secret = freshSecret()
        NodeKey.generate().use { key ->
            val bad = listOf(
                config(ddsUrl = "ftp://dds.example.com"),
                config(ddsUrl = "https://user:pw@dds.example.com"),
                config(flow = RegistrationFlow.Legacy("not a url")),
                config().copy(nodeVersion = "  "),
                config().copy(capabilities = emptyList()),
                config(timeoutSeconds = 0.0),
                config(intervalSeconds = 0.5),
                config(flow = RegistrationFlow.Legacy("")),
            )
            for (c in bad) {
                val error = assertFailsWith<RegistrationException.InvalidConfig>("accepted $c") { Registrar(c, key, secret) }
                assertNoSecrets(listOf(secret, "pw@"), listOf(error.toString()))
            }
            val nameless = assertFailsWith<RegistrationException.Store> { Registrar.withStateFile(config(), key, secret, " ") }
            assertTrue(nameless.detail.contains("names no file"), nameless.detail)
            // A refused configuration touches no file: no lock file beside the state.
            val dir = java.nio.file.Files.createTempDirectory("state-refused")
            assertFailsWith<RegistrationException.InvalidConfig> {
                Registrar.withStateFile(config(timeoutSeconds = 0.0), key, secret, dir.resolve("s.json").toString())
            }
            assertEquals(emptyList(), dir.toFile().list()!!.toList())
            // A path the file store can never use fails here, not at every attempt.
            val folder = java.nio.file.Files.createTempDirectory("state-folder")
            val unusable = assertFailsWith<RegistrationException.Store> {
                Registrar.withStateFile(config(), key, secret, folder.toString())
            }
            assertTrue(unusable.detail.contains("it is a folder"), unusable.detail)
        }
    }

    @Test
    fun storeFailures(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            val unreadable = assertFailsWith<RegistrationException.Store> {
                Registrar(config(), key, freshSecret(), JdkClient(), BrokenStore(failLoad = true, failSave = false))
            }
            assertTrue(unreadable.detail.contains("keychain locked"), unreadable.detail)
            // Failing saves are reported but do not stop registration.
            Registrar(config(), key, freshSecret(), JdkClient(), BrokenStore(failLoad = false, failSave = true)).use {
                it.registerOnce()
                assertEquals(RegistrationStatus.REGISTERED, it.status())
            }
            // A corrupt snapshot is set aside; the node registers afresh.
            val store = MemoryStore("{not json".toByteArray())
            Registrar(config(), key, freshSecret(), JdkClient(), store).use {
                assertNotNull(it.info().recoveredFrom, "corruption not reported")
                assertEquals(RegistrationStatus.DISCONNECTED, it.status())
                it.registerOnce()
                assertTrue(String(store.bytes!!).contains("\"registered\""))
            }
        }
    }

    @Test
    fun aThrowingLoggerDoesNotDisturbRegistration(): Unit = runBlocking {
        val logger = CapturingLogger(explode = true)
        NodeKey.generate().use { key ->
            Registrar(config(), key, freshSecret(), JdkClient(), MemoryStore(), logger).use {
                it.registerOnce()
                assertEquals(RegistrationStatus.REGISTERED, it.status())
            }
        }
        assertTrue("registration.success" in logger.names())
    }

    @Test
    fun startAndStopTheLoop(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(intervalSeconds = 2.0), key, freshSecret(), JdkClient()).use { registrar ->
                assertFalse(registrar.isRunning())
                registrar.start()
                assertTrue(registrar.isRunning())
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
                assertFailsWith<RegistrationException.AlreadyRunning> { registrar.start() }
                assertFailsWith<RegistrationException.AlreadyRunning> { registrar.run() }
                // Next to the running loop, a one-off attempt joins it instead of failing.
                registrar.registerOnce()
                assertTrue(registrar.isRunning())
                registrar.stop()
                assertFalse(registrar.isRunning())
                // The driver is free again: a one-off attempt works right away (a fresh
                // registration would be adopted, so ask for a new one).
                registrar.registerAgain()
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
            }
        }
        assertTrue(MockDds.accepted().size >= 2)
    }

    @Test
    fun runStopsWhenItsCoroutineIsCancelled(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, freshSecret(), JdkClient()).use { registrar ->
                val loop = launch(Dispatchers.Default) { registrar.run() }
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
                assertTrue(registrar.isRunning())
                loop.cancelAndJoin()
                assertFalse(registrar.isRunning())
                assertFalse(registrar.waitForStatus(RegistrationStatus.DISCONNECTED, Duration.ofMillis(100)))
            }
        }
    }

    @Test
    fun legacyFlowWithCallbacksServedByTheApp(): Unit = runBlocking {
        val logger = CapturingLogger()
        val secret = freshSecret()
        val registrarRef = AtomicReference<Registrar>()
        val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.createContext("/") { exchange ->
            exchange.use {
                val body = it.requestBody.readNBytes(MAX_BODY + 1)
                val headers = it.requestHeaders.flatMap { (name, values) -> values.map { v -> HttpHeader(name, v) } }
                val answer = registrarRef.get().handleNodeRequest(
                    it.requestMethod, it.requestURI.rawPath, headers, body,
                )
                for (h in answer.headers) it.responseHeaders.add(h.name, h.value)
                it.sendResponseHeaders(answer.status, if (answer.body.isEmpty()) -1 else answer.body.size.toLong())
                it.responseBody.write(answer.body)
            }
        }
        server.start()
        try {
            val nodeUrl = "http://127.0.0.1:${server.address.port}"
            NodeKey.generate().use { key ->
                Registrar(config(flow = RegistrationFlow.Legacy(nodeUrl)), key, secret, JdkClient(), MemoryStore(), logger).use { registrar ->
                    registrarRef.set(registrar)
                    registrar.registerOnce()
                    assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                    assertEquals(key.publicKeyHex(), MockDds.accepted().single().str("public_key"))
                    // The DDS calls back with an id and a secret, then probes /health (every 300 ms).
                    withTimeout(10_000) { while (registrar.info().nodeId == null) delay(50) }
                    val first = assertNotNull(registrar.info().lastHealthCheck)
                    withTimeout(10_000) {
                        while ("healthcheck.touch" !in logger.names()) delay(50)
                    }
                    val later = assertNotNull(registrar.info().lastHealthCheck)
                    assertTrue(!later.isBefore(first))
                    // The DDS records an answer once it has read it, a moment after the node
                    // has handled the request: wait for both records.
                    val state = withTimeout(10_000) {
                        var s = MockDds.registrations()
                        while (s.objs("callbacks").isEmpty() || s.objs("health_probes").none { it["status"] == 200L }) {
                            delay(50)
                            s = MockDds.registrations()
                        }
                        s
                    }
                    assertEquals(200L, state.objs("callbacks").single()["status"])
                    val issued = state.strings("issued_secrets")
                    assertEquals(1, issued.size)
                    assertEquals("mock-org", registrar.info().organizationId)
                    assertTrue("registration.callback" in logger.names())
                    assertNoSecrets(
                        issued + listOf(secret, key.hex()),
                        listOf(logger.text(), registrar.info().toString(), registrar.toString()),
                    )
                }
            }
        } finally {
            server.stop(0)
        }
    }

    @Test
    fun handleNodeRequestRoutes(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(flow = RegistrationFlow.Legacy("http://127.0.0.1:9")), key, freshSecret()).use { r ->
                assertEquals(404, r.handleNodeRequest("GET", "/nope", emptyList(), ByteArray(0)).status)
                assertEquals(405, r.handleNodeRequest("GET", "/internal/v1/registrations", emptyList(), ByteArray(0)).status)
                // Nobody asked the DDS for a callback: a forged one changes nothing.
                val forged = r.handleNodeRequest(
                    "POST", "/internal/v1/registrations", emptyList(),
                    """{"id":"evil","secret":"forged-secret"}""".toByteArray(),
                )
                assertEquals(409, forged.status)
                assertFalse(String(forged.body).contains("forged-secret"))
                assertNull(r.info().nodeId)
                val health = r.handleNodeRequest("GET", "/health", listOf(HttpHeader("User-Agent", "DDS v1.0")), ByteArray(0))
                assertEquals(200, health.status)
                assertNotNull(r.info().lastHealthCheck)
            }
        }
    }

    @Test
    fun protocolHelpers() {
        val now = Instant.now()
        assertNull(classifyResponse("http://dds/x", HttpResponse(204, emptyList(), ByteArray(0)), now))
        val tooMany = classifyResponse(
            "http://dds/x",
            HttpResponse(429, listOf(HttpHeader("Retry-After", "3")), "slow down".toByteArray()),
            now,
        ) ?: fail("429 classified as success")
        assertEquals(FailureClass.RETRY_FAST, tooMany.failureClass)
        assertEquals(Duration.ofSeconds(3), tooMany.retryAfter)
        // A multi-byte character across the 512-byte cut must not break anything.
        val long = "a".repeat(511) + "é" + "b".repeat(100)
        val cut = classifyResponse("http://dds/x", HttpResponse(500, emptyList(), long.toByteArray()), now)
        assertTrue(assertNotNull(cut).detail.endsWith("a".repeat(511)), cut.detail.takeLast(20))
        val refused = classifyTransportError("http://dds/x", TransportErrorKind.CONNECT, "connection refused")
        assertEquals(FailureClass.RETRY_FAST, refused.failureClass)
        assertTrue(refused.detail.contains("could not connect"))

        val info = checkRegistrationCallback("""{"id":"n-1","secret":"shh","organization_id":"org"}""".toByteArray())
        assertEquals("n-1", info.id)
        assertEquals("org", info.organizationId)
        assertEquals(3u, info.secretLength)
        assertFalse(info.toString().contains("shh"))
        val blank = assertFailsWith<RegistrationException.CallbackRejected> {
            checkRegistrationCallback("""{"id":" ","secret":"shh"}""".toByteArray())
        }
        assertEquals(422, blank.status)
        val big = assertFailsWith<RegistrationException.CallbackRejected> {
            checkRegistrationCallback("""{"id":"n","secret":"${"x".repeat(5000)}"}""".toByteArray())
        }
        assertEquals(403, big.status)
        assertTrue(isDdsUserAgent("DDS v2.1"))
        assertFalse(isDdsUserAgent("curl/8"))
    }
}
