package com.posemesh.registration.tests

import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationStatus
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Timeout
import java.util.UUID
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertNotEquals
import kotlin.test.assertTrue

/**
 * The node's DDS session (docs/behaviour.md, "The DDS session") against the conformance DDS: a
 * token it accepts, refreshed before it expires, one sign-in for a hundred callers, a new
 * registration when verify says the node is gone, and never shown.
 */
@Timeout(120)
class SessionTest {
    private val verify = "/internal/v1/auth/siwe/verify"

    private fun config() = RegistrarConfig(
        ddsUrl = MockDds.url,
        nodeVersion = "1.2.3",
        capabilities = listOf("/capture/scan/v1"),
        requestTimeoutSeconds = 10.0,
    )

    private fun secret() = "reg-secret-" + UUID.randomUUID()

    private fun walletRegistrations() =
        MockDds.registrations().objs("received")
            .count { it["accepted"] == true && it.str("path") == "/internal/v1/nodes/register-wallet" }

    @BeforeEach
    fun resetMock() = MockDds.reset()

    @Test
    fun aTokenTheDdsAcceptsAndNothingShows(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                val token = registrar.accessToken()
                assertEquals(200, MockDds.checkToken(token.expose()))
                assertEquals(RegistrationStatus.REGISTERED, registrar.status())
                assertFalse(token.toString().contains(token.expose()), token.toString())
                assertTrue(token.expiresAtMs() > System.currentTimeMillis().toULong())
                assertEquals(token.expose(), registrar.accessToken().expose(), "the same token")
                assertEquals(1L, MockDds.signIns())
            }
        }
    }

    @Test
    fun aHundredCallersShareOneSignIn(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                val tokens = (1..100).map { async(Dispatchers.Default) { registrar.accessToken().expose() } }.awaitAll()
                assertEquals(1, tokens.toSet().size)
                assertEquals(1L, MockDds.signIns())
                assertEquals(1, walletRegistrations())
            }
        }
    }

    @Test
    fun aRunningLoopRefreshesAShortLivedToken(): Unit = runBlocking {
        MockDds.tokenLifetime(1500)
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                registrar.start()
                val seen = mutableSetOf<String>()
                val until = System.currentTimeMillis() + 4000
                while (System.currentTimeMillis() < until) {
                    val token = withTimeout(10_000) { registrar.accessToken() }
                    seen += token.expose()
                    assertEquals(200, MockDds.checkToken(token.expose()), "every token handed out is live")
                    delay(100)
                }
                assertTrue(seen.size >= 2, "refreshed before it expired")
            }
        }
    }

    @Test
    fun forbiddenFromVerifyRegistersAgain(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                registrar.registerOnce()
                MockDds.faults("""{"status":403,"path":"$verify"}""")
                val token = registrar.accessToken()
                assertEquals(200, MockDds.checkToken(token.expose()))
                assertEquals(2, walletRegistrations())
            }
        }
    }

    @Test
    fun aRefusedTokenIsReplacedAndAFailedRoundThrows(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                val first = registrar.accessToken()
                repeat(5) { registrar.accessTokenRefused(first.expose()) }
                val second = registrar.accessToken()
                assertNotEquals(first.expose(), second.expose())
                assertEquals(2L, MockDds.signIns())

                registrar.accessTokenRefused(second.expose())
                MockDds.faults(*Array(4) { """{"status":500,"path":"$verify"}""" })
                val failed = assertFailsWith<RegistrationException.AttemptFailed> { registrar.accessToken() }
                assertEquals(500, failed.status)
            }
        }
    }

    @Test
    fun metricsCountFailuresSuccessesAndSignIns(): Unit = runBlocking {
        NodeKey.generate().use { key ->
            Registrar(config(), key, secret(), JdkClient()).use { registrar ->
                assertEquals(null, registrar.metrics().sinceLastSuccessMs)
                MockDds.faults("""{"status":503,"path":"/internal/v1/auth/siwe/request"}""")
                assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                assertEquals(1u, registrar.metrics().consecutiveFailures)
                registrar.registerOnce()
                registrar.accessToken()
                val metrics = registrar.metrics()
                assertEquals(RegistrationStatus.REGISTERED, metrics.status)
                assertEquals(1uL, metrics.attemptsRegistered)
                assertEquals(1uL, metrics.attemptsRetryFast)
                assertEquals(0u, metrics.consecutiveFailures)
                assertEquals(1uL, metrics.signIns)
                assertTrue(metrics.sinceLastSuccessMs!! < 10_000uL)
                assertTrue(metrics.callbacksRefused.isEmpty())
            }
        }
    }
}
