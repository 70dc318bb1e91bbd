package com.posemesh.registration.tests

import com.posemesh.registration.AttemptOutcome
import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.RegistrationStatus
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Timeout
import java.time.Duration
import java.util.UUID
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/**
 * The scenarios of docs/behaviour.md that every binding passes, by the same names, against the
 * conformance DDS on loopback (started by test.sh).
 */
@Timeout(120)
class BehaviourTest {
    private fun config(
        version: String = "1.2.3",
        flow: RegistrationFlow? = null,
        intervalSeconds: Double? = null,
        timeoutSeconds: Double? = 10.0,
    ) = RegistrarConfig(
        ddsUrl = MockDds.url,
        nodeVersion = version,
        capabilities = listOf("/capture/scan/v1"),
        flow = flow,
        registerIntervalSeconds = intervalSeconds,
        requestTimeoutSeconds = timeoutSeconds,
    )

    private fun secret() = "reg-secret-" + UUID.randomUUID()

    @BeforeEach
    fun resetMock() = MockDds.reset()

    @Test
    fun registerOnceRegisters(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                assertEquals(key.ethAddress(), MockDds.accepted().single().str("address"))
            }
        }
    }

    /** Registers [key] once, keeping its state in [store]. */
    private suspend fun registerKeepingState(key: NodeKey, secret: String, store: MemoryStore) =
        Registrar(config(), key, secret, JdkClient(), store).use {
            assertEquals(AttemptOutcome.REGISTERED, it.registerOnce())
        }

    @Test
    fun registerOnceAdoptsAFreshMatchingRegistration(): Unit = runBlocking {
        val store = MemoryStore()
        val secret = secret()
        NodeKey.generate().use { key ->
            registerKeepingState(key, secret, store)
            // Restarted with the same state and configuration within one TTL: no request.
            val client = JdkClient()
            Registrar(config(), key, secret, client, store).use {
                assertEquals(AttemptOutcome.ADOPTED, it.registerOnce())
                assertEquals(RegistrationStatus.REGISTERED, it.status())
            }
            assertEquals(0, client.sent.get())
            assertEquals(1, MockDds.accepted().size)
        }
    }

    @Test
    fun restartReportsTheKeptRegistration(): Unit = runBlocking {
        val store = MemoryStore()
        val secret = secret()
        NodeKey.generate().use { key ->
            registerKeepingState(key, secret, store)
            // The loop restarted on that state reports the registration it keeps, once.
            val client = JdkClient()
            val logger = CapturingLogger()
            val adopted = { logger.names().count { it == "registration.adopted" } }
            Registrar(config(), key, secret, client, store, logger).use { registrar ->
                registrar.start()
                withTimeout(5_000) { while (adopted() == 0) delay(20) }
                delay(300) // room for a second report, which must not come
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
            }
            assertEquals(1, adopted(), logger.text())
            assertEquals(0, client.sent.get())
            assertEquals(1, MockDds.accepted().size)
        }
    }

    @Test
    fun upgradeRegistersAgain(): Unit = runBlocking {
        val store = MemoryStore()
        val secret = secret()
        NodeKey.generate().use { key ->
            Registrar(config(version = "1.2.3"), key, secret, JdkClient(), store).use {
                assertEquals(AttemptOutcome.REGISTERED, it.registerOnce())
            }
            Registrar(config(version = "1.3.0"), key, secret, JdkClient(), store).use {
                assertEquals(AttemptOutcome.REGISTERED, it.registerOnce())
            }
            assertEquals(listOf("1.2.3", "1.3.0"), MockDds.accepted().map { it.str("version") })
        }
    }

    @Test
    fun secondRegisterOnceJoinsTheFirst(): Unit = runBlocking {
        // The nonce answer is held back so that both calls overlap.
        MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":1000,"pass_through":true}""")
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), client).use { registrar ->
                val first = async(Dispatchers.Default) { registrar.registerOnce() }
                withTimeout(5_000) { client.started.await() }
                val second = async(Dispatchers.Default) { registrar.registerOnce() }
                assertEquals(listOf(AttemptOutcome.REGISTERED, AttemptOutcome.REGISTERED), awaitAll(first, second))
                assertEquals(1, MockDds.accepted().size)
                assertEquals(2, client.sent.get(), "one nonce request and one registration on the wire")
            }
        }
    }

    @Test
    fun registerOnceNextToARunningLoopJoinsIt(): Unit = runBlocking {
        MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":1000,"pass_through":true}""")
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), client).use { registrar ->
                registrar.start()
                withTimeout(5_000) { client.started.await() }
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
                assertTrue(registrar.isRunning())
                assertEquals(1, MockDds.accepted().size)
            }
        }
    }

    @Test
    fun runTwiceIsAnError(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                val loop = launch(Dispatchers.Default) { registrar.run() }
                withTimeout(5_000) { while (!registrar.isRunning()) delay(10) }
                assertFailsWith<RegistrationException.AlreadyRunning> { registrar.run() }
                assertFailsWith<RegistrationException.AlreadyRunning> { registrar.start() }
                assertTrue(registrar.isRunning())
                registrar.stop()
                withTimeout(5_000) { loop.join() }
                assertFalse(registrar.isRunning())
            }
        }
    }

    @Test
    fun stopDuringAnAttempt(): Unit = runBlocking {
        MockDds.faults("""{"path":"/internal/v1/auth/siwe/request","delay_ms":8000,"pass_through":true}""")
        val client = JdkClient()
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), client).use { registrar ->
                registrar.start()
                withTimeout(5_000) { client.started.await() }
                val waiting = async(Dispatchers.Default) {
                    runCatching { registrar.registerOnce() }.exceptionOrNull()
                }
                delay(200)
                val stopAt = System.nanoTime()
                registrar.stop()
                assertFalse(registrar.isRunning())
                val error = withTimeout(2_000) { waiting.await() }
                assertTrue(error is RegistrationException.Stopped, "registerOnce ended with $error")
                val stopMs = (System.nanoTime() - stopAt) / 1_000_000
                assertTrue(stopMs < 2_000, "stopping took $stopMs ms")
                assertTrue(MockDds.accepted().isEmpty())
            }
        }
    }

    @Test
    fun zeroOrNegativeTimeoutIsRefused() {
        NodeKey.generate().use { key ->
            for (timeout in listOf(0.0, -1.0)) {
                val error = assertFailsWith<RegistrationException.InvalidConfig>("accepted $timeout") {
                    Registrar(config(timeoutSeconds = timeout), key, secret())
                }
                assertEquals("request timeout must be greater than zero", error.reason)
            }
            // Not a duration at all: refused naming the option (NaN used to run as zero).
            for (timeout in listOf(Double.NaN, Double.POSITIVE_INFINITY)) {
                val error = assertFailsWith<RegistrationException.InvalidConfig>("accepted $timeout") {
                    Registrar(config(timeoutSeconds = timeout), key, secret())
                }
                assertEquals("requestTimeoutSeconds must be a finite number of seconds", error.reason)
            }
        }
    }

    @Test
    fun shortCredentialsAreRefused() {
        NodeKey.generate().use { key ->
            for (short in listOf("s", "abc")) {
                val error = assertFailsWith<RegistrationException.InvalidConfig>("accepted $short") {
                    Registrar(config(), key, short)
                }
                assertEquals("registration credentials must be at least 4 bytes", error.reason)
            }
            Registrar(config(), key, "abcd").close()
        }
    }

    @Test
    fun intervalUnderASecondIsRefused() {
        NodeKey.generate().use { key ->
            for (interval in listOf(0.999, 0.0, -5.0)) {
                val error = assertFailsWith<RegistrationException.InvalidConfig>("accepted $interval") {
                    Registrar(config(intervalSeconds = interval), key, secret())
                }
                assertEquals("registration interval must be at least 1 second", error.reason)
            }
        }
    }

    @Test
    fun walletConfigWithANodeUrlIsRefused() {
        // A wallet flow cannot carry a node URL in this API (RegistrationFlow.Wallet has no
        // field); the other half of the rule, legacy without a node URL, is refused.
        NodeKey.generate().use { key ->
            val error = assertFailsWith<RegistrationException.InvalidConfig> {
                Registrar(config(flow = RegistrationFlow.Legacy("")), key, secret())
            }
            assertTrue(error.reason.contains("node URL"), error.reason)
        }
    }

    @Test
    fun walletIsTheDefaultFlow(): Unit = runBlocking {
        val config = RegistrarConfig(
            ddsUrl = MockDds.url,
            nodeVersion = "1.2.3",
            capabilities = listOf("/capture/scan/v1"),
        )
        assertEquals(null, config.flow)
        NodeKey.generate().use { key ->
            Registrar(config, key, secret(), JdkClient()).use { registrar ->
                assertEquals(AttemptOutcome.REGISTERED, registrar.registerOnce())
            }
            assertEquals("/internal/v1/nodes/register-wallet", MockDds.accepted().single().str("path"))
        }
    }

    @Test
    fun registerAgainRearmsARunningRegistrar(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(intervalSeconds = 600.0), key, secret(), JdkClient()).use { registrar ->
                registrar.start()
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
                assertEquals(1, MockDds.accepted().size)
                registrar.registerAgain()
                withTimeout(10_000) { while (MockDds.accepted().size < 2) delay(20) }
                assertTrue(registrar.isRunning())
                assertTrue(registrar.waitForStatus(RegistrationStatus.REGISTERED, Duration.ofSeconds(15)))
            }
        }
    }
}
