package com.posemesh.registration.tests

import com.posemesh.registration.EventField
import com.posemesh.registration.FailureClass
import com.posemesh.registration.HttpResponse
import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.SiweChallenge
import com.posemesh.registration.classifyResponse
import com.posemesh.registration.legacyRegistrationRequest
import com.posemesh.registration.siweNonceRequest
import com.posemesh.registration.walletRegistrationRequest
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Timeout
import java.net.URI
import java.time.Instant
import java.util.UUID
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertTrue

/**
 * The checks Auki's newer clients make: a plaintext DDS only on loopback or with
 * `allowPlaintextDds`, capabilities that are paths, and 409/402 answers that say what to do.
 * The rules are the core's; these tests prove Kotlin passes them on.
 */
@Timeout(120)
class ChecksTest {
    private val plain = "http://dds.example.com"
    private val capabilities = listOf("/capture/scan/v1")

    private fun config(
        ddsUrl: String,
        caps: List<String> = capabilities,
        flow: RegistrationFlow? = null,
        allowPlaintextDds: Boolean = false,
    ) = RegistrarConfig(
        ddsUrl = ddsUrl,
        nodeVersion = "1.0.0",
        capabilities = caps,
        flow = flow,
        allowPlaintextDds = allowPlaintextDds,
    )

    private fun secret() = "reg-secret-" + UUID.randomUUID()

    /** Each low-level builder, called with this DDS URL. */
    private fun builders(key: NodeKey, ddsUrl: String, allow: Boolean = false): List<() -> String> {
        val domain = URI(ddsUrl).let { if (it.port == -1) it.host else "${it.host}:${it.port}" }
        val challenge = SiweChallenge("n0nce42x", domain, ddsUrl, "1", 1L, "2024-01-01T00:00:00Z")
        return listOf(
            {
                legacyRegistrationRequest(
                    ddsUrl, "https://node.example.com", "1", capabilities, "s3cret", key, Instant.now(),
                    allowPlaintextDds = allow,
                ).use { it.url() }
            },
            { siweNonceRequest(ddsUrl, key.ethAddress(), allowPlaintextDds = allow).use { it.url() } },
            {
                walletRegistrationRequest(
                    ddsUrl, challenge, "1", capabilities, "s3cret", key, allowPlaintextDds = allow,
                ).use { it.url() }
            },
        )
    }

    @BeforeEach
    fun resetMock() = MockDds.reset()

    @Test
    fun plaintextDdsIsRefusedUnlessLoopbackOrAllowed() {
        NodeKey.generate().use { key ->
            for (url in listOf(plain, "http://10.0.0.5:8080", "HTTP://dds.example.com/api")) {
                val refused = assertFailsWith<RegistrationException.InvalidConfig> {
                    Registrar(config(url), key, secret())
                }
                assertTrue(refused.reason.contains("unencrypted"), refused.reason)
                assertTrue(refused.reason.contains("allowPlaintextDds"), refused.reason)
                Registrar(config(url, allowPlaintextDds = true), key, secret()).close()
            }
            for (url in listOf("http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1", "https://dds.example.com")) {
                Registrar(config(url), key, secret()).close()
            }
        }
    }

    @Test
    fun requestBuildersRefuseAPlaintextDdsUnlessAllowed() {
        NodeKey.generate().use { key ->
            for (build in builders(key, plain)) {
                val refused = assertFailsWith<RegistrationException.InvalidInput> { build() }
                assertTrue(refused.reason.contains("unencrypted"), refused.reason)
            }
            for (build in builders(key, plain, allow = true)) {
                assertTrue(build().startsWith("$plain/internal/v1/"))
            }
            for (build in builders(key, "http://127.0.0.1:8080")) {
                assertTrue(build().startsWith("http://127.0.0.1:8080/internal/v1/"))
            }
        }
    }

    @Test
    fun ddsUrlsWithUserinfoAQueryOrAFragmentAreRefusedEverywhere() {
        NodeKey.generate().use { key ->
            for (url in listOf("https://user:pw@dds.example.com", "https://dds.example.com?x=1", "https://dds.example.com#top")) {
                val refused = assertFailsWith<RegistrationException.InvalidConfig> { Registrar(config(url), key, secret()) }
                assertTrue(refused.reason.startsWith("invalid DDS URL"), refused.reason)
                assertTrue(!refused.reason.contains("pw@"), refused.reason)
                for (build in builders(key, url, allow = true)) {
                    val input = assertFailsWith<RegistrationException.InvalidInput> { build() }
                    assertTrue(input.reason.startsWith("invalid DDS URL"), input.reason)
                }
            }
        }
    }

    @Test
    fun capabilitiesArePaths() {
        NodeKey.generate().use { key ->
            for (flow in listOf(null, RegistrationFlow.Legacy("https://node.example.com"))) {
                for ((caps, expected) in listOf(
                    emptyList<String>() to "at least one capability",
                    listOf("c") to "capability \"c\" is not a path",
                    listOf("/ok/v1", "test") to "capability \"test\" is not a path",
                    listOf("/splatter colmap/v1") to "whitespace or a control character",
                    listOf("/a\tb") to "whitespace or a control character",
                )) {
                    val refused = assertFailsWith<RegistrationException.InvalidConfig>("$caps") {
                        Registrar(config("https://dds.example.com", caps, flow), key, secret())
                    }
                    assertTrue(refused.reason.contains(expected), refused.reason)
                }
                Registrar(config("https://dds.example.com", listOf("/splatter/colmap/v1", "/a"), flow), key, secret()).close()
            }
            // The reference's vectors hold a capability with spaces and an empty legacy list:
            // the builders send what they are given; only a registrar refuses them.
            for (caps in listOf(listOf("c"), listOf("cap with spaces"), emptyList())) {
                legacyRegistrationRequest(
                    "https://dds.example.com", "https://node.example.com", "1", caps, "s3cret", key, Instant.now(),
                ).use { request ->
                    val body = String(request.body())
                    assertTrue(body.contains("\"capabilities\":[${caps.joinToString(",") { "\"$it\"" }}]"), body)
                }
            }
        }
    }

    @Test
    fun classifiedFailuresCarryTheHint() {
        for ((status, hint) in listOf(409 to "same wallet", 402 to "lacks the stake")) {
            val failure = assertNotNull(classifyResponse(plain + "/x", HttpResponse(status, emptyList(), "no".toByteArray()), Instant.now()))
            assertTrue(assertNotNull(failure.hint).contains(hint), failure.hint)
            assertTrue(failure.detail.endsWith("body_snippet: no"), failure.detail)
        }
        assertNull(assertNotNull(classifyResponse(plain + "/x", HttpResponse(503, emptyList(), ByteArray(0)), Instant.now())).hint)
    }

    @Test
    fun conflictAndMissingStakeSayWhatToDo(): Unit = kotlinx.coroutines.runBlocking {
        for ((status, hint) in listOf(409 to "same wallet", 402 to "lacks the stake")) {
            val logger = CapturingLogger()
            NodeKey.generate().use { key ->
                Registrar(config(MockDds.url), key, secret(), JdkClient(), null, logger).use { registrar ->
                    MockDds.faults("""{"status":$status,"body":"refused"}""")
                    val failed = assertFailsWith<RegistrationException.AttemptFailed> { registrar.registerOnce() }
                    assertEquals(status, failed.status)
                    assertEquals(if (status == 409) FailureClass.CONFLICT else FailureClass.RETRY_LATER, failed.failureClass)
                    val text = assertNotNull(failed.hint)
                    assertTrue(text.contains(hint), text)
                    // The reference's message stays in `detail`; the error's text adds the advice.
                    assertTrue(failed.detail.endsWith("body_snippet: refused"), failed.detail)
                    assertTrue(failed.message!!.endsWith("body_snippet: refused (hint: $text)"), failed.message)
                    val name = if (status == 409) "registration.conflict" else "registration.error"
                    val event = synchronized(logger.events) { logger.events.first { it.name == name } }
                    assertEquals(EventField.Text(text), event.fields["hint"])
                }
            }
        }
    }
}
