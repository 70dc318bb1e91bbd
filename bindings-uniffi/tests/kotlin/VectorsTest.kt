package com.posemesh.registration.tests

import com.posemesh.registration.NodeKey
import com.posemesh.registration.Registrar
import com.posemesh.registration.RegistrarConfig
import com.posemesh.registration.RegistrationException
import com.posemesh.registration.RegistrationFlow
import com.posemesh.registration.SiweChallenge
import com.posemesh.registration.legacyRegistrationRequest
import com.posemesh.registration.parseSiweChallenge
import com.posemesh.registration.recoverEip191Signer
import com.posemesh.registration.recoverRegistrationSigner
import com.posemesh.registration.rfc3339Timestamp
import com.posemesh.registration.siweMessage
import com.posemesh.registration.siweNonceRequest
import com.posemesh.registration.walletRegistrationRequest
import org.junit.jupiter.api.Timeout
import java.io.File
import java.time.Instant
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertTrue

/**
 * Every known-answer vector in the JSON files of `tests/vectors` (computed with coincurve, eth-keys,
 * eth-account and pycryptodome, never with project code), through the Kotlin API.
 * Each test also checks how many cases it saw, so an emptied file cannot pass.
 */
@Timeout(120)
class VectorsTest {
    private val dir = File(System.getenv("POSEMESH_VECTORS_DIR") ?: "tests/vectors")

    private fun load(name: String): Map<String, Any?> = Json.parse(File(dir, name).readText()).obj()

    private fun utf8(request: com.posemesh.registration.HttpRequest) = request.body().toString(Charsets.UTF_8)

    @Test
    fun validKeysGiveTheirPublicKeyAndAddress() {
        val cases = load("keys.json").objs("valid")
        assertTrue(cases.size >= 12, "only ${cases.size} valid keys")
        for (case in cases) {
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                assertEquals(case.str("public_key_hex"), key.publicKeyHex())
                assertEquals(case.str("eth_address"), key.ethAddress())
                val bytes = key.exportPrivateKeyBytes()
                assertEquals(case.str("private_key_hex"), bytes.joinToString("") { "%02x".format(it) })
                NodeKey.fromBytes(bytes).use { again -> assertEquals(key.ethAddress(), again.ethAddress()) }
            }
        }
    }

    @Test
    fun invalidKeysAreRefusedWithoutEchoingThem() {
        val cases = load("keys.json").objs("invalid")
        assertTrue(cases.size >= 13, "only ${cases.size} invalid keys")
        for (case in cases) {
            val input = case.str("input")
            val error = assertFailsWith<RegistrationException.InvalidKey>("accepted: ${case.str("reason")}") {
                NodeKey.fromHex(input)
            }
            val digits = input.trim().removePrefix("0x")
            if (digits.length >= 8) {
                assertFalse(error.message!!.contains(digits), "error echoes the input: ${error.message}")
                assertFalse(error.toString().contains(digits), "error echoes the input: $error")
            }
        }
        assertFailsWith<RegistrationException.InvalidKey> { NodeKey.fromBytes(ByteArray(31)) }
        assertFailsWith<RegistrationException.InvalidKey> { NodeKey.fromBytes(ByteArray(32)) }
    }

    @Test
    fun keySpellingsLoadAsTheSameKey() {
        val cases = load("keys.json").objs("valid_spellings")
        assertTrue(cases.size >= 9, "only ${cases.size} spellings")
        for (case in cases) {
            NodeKey.fromHex(case.str("input")).use { key ->
                NodeKey.fromHex(case.str("private_key_hex")).use { expected ->
                    assertEquals(expected.publicKeyHex(), key.publicKeyHex(), "spelling ${case.str("input")}")
                }
            }
        }
    }

    @Test
    fun registrationSignatures() {
        val cases = load("signatures.json").objs("registration")
        assertTrue(cases.size >= 52, "only ${cases.size} cases")
        for (case in cases) {
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                val signature = key.signRegistration(case.str("message"))
                assertEquals(case.str("signature_hex"), signature, "message ${case.str("message").take(40)}")
                assertEquals(key.publicKeyHex(), recoverRegistrationSigner(case.str("message"), signature))
            }
        }
    }

    @Test
    fun eip191Signatures() {
        val cases = load("signatures.json").objs("eip191")
        assertTrue(cases.size >= 52, "only ${cases.size} cases")
        for (case in cases) {
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                val signature = key.signEip191(case.str("message"))
                assertEquals(case.str("signature_hex"), signature, "message ${case.str("message").take(40)}")
                assertEquals(key.ethAddress(), recoverEip191Signer(case.str("message"), signature))
            }
        }
    }

    @Test
    fun compactSignatures() {
        val cases = load("signatures.json").objs("compact")
        assertTrue(cases.size >= 52, "only ${cases.size} cases")
        for (case in cases) {
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                assertEquals(case.str("signature_hex"), key.signCompact(case.str("message")))
            }
        }
    }

    @Test
    fun timestamps() {
        val cases = load("timestamps.json").objs("cases")
        assertTrue(cases.size >= 22, "only ${cases.size} cases")
        for (case in cases) {
            val time = Instant.ofEpochSecond(case.long("seconds"), case.long("nanos"))
            assertEquals(case.str("rfc3339"), rfc3339Timestamp(time))
        }
    }

    @Test
    fun legacyRequests() {
        val cases = load("requests.json").objs("legacy")
        assertTrue(cases.size >= 7, "only ${cases.size} cases")
        for (case in cases) {
            val expected = case["expected"].obj()
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                val time = Instant.ofEpochSecond(case.long("timestamp_seconds"), case.long("timestamp_nanos"))
                legacyRegistrationRequest(
                    ddsUrl = case.str("dds_base_url"),
                    nodeUrl = case.str("node_url"),
                    nodeVersion = case.str("node_version"),
                    capabilities = case.strings("capabilities"),
                    registrationCredentials = case.str("registration_credentials"),
                    key = key,
                    time = time,
                ).use { request ->
                    val name = case.str("name")
                    assertEquals(expected.str("method"), request.method(), name)
                    assertEquals(expected.str("url"), request.url(), name)
                    assertEquals(
                        expected.str("content_type"),
                        request.headers().single { it.name.equals("content-type", ignoreCase = true) }.value,
                        name,
                    )
                    // Compared as text: key order and escaping matter.
                    assertEquals(expected.str("body"), utf8(request), name)
                    // toString never shows the body (it holds the credentials).
                    val credentials = case.str("registration_credentials")
                    assertTrue(utf8(request).contains("registration_credentials"), name)
                    if (credentials.length >= 6) assertFalse(request.toString().contains(credentials), name)
                    assertFalse(request.toString().contains("registration_credentials"), name)
                }
            }
        }
    }

    @Test
    fun siweRequests() {
        val cases = load("requests.json").objs("siwe")
        assertTrue(cases.size >= 4, "only ${cases.size} cases")
        for (case in cases) {
            val name = case.str("name")
            val expected = case["expected"].obj()
            val c = case["challenge"].obj()
            NodeKey.fromHex(case.str("private_key_hex")).use { key ->
                val nonce = expected["nonce_request"].obj()
                siweNonceRequest(case.str("dds_base_url"), key.ethAddress()).use { request ->
                    assertEquals(nonce.str("method"), request.method(), name)
                    assertEquals(nonce.str("url"), request.url(), name)
                    assertEquals(nonce.str("body"), utf8(request), name)
                }
                // The challenge as the DDS sends it, parsed by the library.
                val challengeJson = """{"nonce":${quote(c.str("nonce"))},"domain":${quote(c.str("domain"))},""" +
                    """"uri":${quote(c.str("uri"))},"version":${quote(c.str("version"))},""" +
                    """"chainId":${c.long("chainId")},"issuedAt":${quote(c.str("issuedAt"))}}"""
                val challenge = parseSiweChallenge(challengeJson.toByteArray())
                assertEquals(
                    SiweChallenge(c.str("nonce"), c.str("domain"), c.str("uri"), c.str("version"), c.long("chainId"), c.str("issuedAt")),
                    challenge,
                    name,
                )
                assertEquals(expected.str("message"), siweMessage(challenge, key.ethAddress()), name)
                assertEquals(expected.str("signature"), key.signEip191(expected.str("message")), name)
                val register = expected["register"].obj()
                walletRegistrationRequest(
                    ddsUrl = case.str("dds_base_url"),
                    challenge = challenge,
                    nodeVersion = case.str("node_version"),
                    capabilities = case.strings("capabilities"),
                    registrationCredentials = case.str("registration_credentials"),
                    key = key,
                ).use { request ->
                    assertEquals(register.str("method"), request.method(), name)
                    assertEquals(register.str("url"), request.url(), name)
                    assertEquals(register.str("body"), utf8(request), name)
                }
            }
        }
        assertFailsWith<RegistrationException.InvalidInput> { parseSiweChallenge("""{"nonce":""}""".toByteArray()) }
        assertFailsWith<RegistrationException.InvalidInput> { parseSiweChallenge(byteArrayOf(-1, 0, 1)) }
    }

    @Test
    fun walletBuildersRefuseWhatTheRegistrarRefuses() {
        fun challenge(domain: String, uri: String) =
            SiweChallenge("n0nce42x", domain, uri, "1", 1L, "2024-01-02T03:04:05Z")
        val caps = listOf("/reconstruction/global-refinement/v1")
        NodeKey.generate().use { key ->
            for ((c, why) in listOf(
                challenge("app.evil.example", "https://app.evil.example/") to "not the DDS",
                challenge("dds.example.com\nURI: https://evil.example/", "https://dds.example.com/") to "line break",
                challenge("dds.example.com", "https://evil.example/login") to "URI is not on domain",
            )) {
                val refused = assertFailsWith<RegistrationException.InvalidInput>(c.domain) {
                    walletRegistrationRequest("https://dds.example.com", c, "1", caps, "registration-secret", key)
                }
                assertTrue(refused.reason.contains(why), refused.reason)
            }
            // Trusted when siweDomains names it, as RegistrarConfig.siweDomains does.
            val public = challenge("dds.public.example", "https://dds.public.example/")
            assertFailsWith<RegistrationException.InvalidInput> {
                walletRegistrationRequest("https://dds.example.com", public, "1", caps, "registration-secret", key)
            }
            walletRegistrationRequest(
                "https://dds.example.com", public, "1", caps, "registration-secret", key,
                siweDomains = listOf("dds.public.example"),
            ).use { request ->
                assertEquals("https://dds.example.com/internal/v1/nodes/register-wallet", request.url())
            }
            // Step 1 checks the address it is given.
            assertFailsWith<RegistrationException.InvalidInput> { siweNonceRequest("https://dds.example.com", "nope") }
        }
    }

    @Test
    fun requestBuildersFollowTheRegistrarsRules() {
        NodeKey.generate().use { key ->
            val now = Instant.now()
            for ((version, caps, expected) in listOf(
                Triple(" ", listOf("/cap/v1"), "node version must not be empty"),
                Triple("1", listOf(" "), "capabilities must not be blank"),
            )) {
                val legacy = assertFailsWith<RegistrationException.InvalidInput> {
                    legacyRegistrationRequest("https://dds", "https://node", version, caps, "s", key, now)
                }
                assertTrue(legacy.reason.contains(expected), legacy.reason)
                val registrar = assertFailsWith<RegistrationException.InvalidConfig> {
                    Registrar(
                        RegistrarConfig("https://dds", RegistrationFlow.Legacy("https://node"), version, caps),
                        key, "s",
                    )
                }
                assertEquals(legacy.reason, registrar.reason, "one rule, one message")
            }
            val challenge = SiweChallenge("n0nce42x", "dds", "https://dds", "1", 1L, "2024-01-01T00:00:00Z")
            val noCapability = assertFailsWith<RegistrationException.InvalidInput> {
                walletRegistrationRequest("https://dds", challenge, "1", emptyList(), "s", key)
            }
            assertTrue(noCapability.reason.contains("at least one capability"), noCapability.reason)
        }
    }

    private fun quote(text: String): String = buildString {
        append('"')
        for (ch in text) {
            when {
                ch == '"' || ch == '\\' -> append('\\').append(ch)
                ch < ' ' -> append("\\u%04x".format(ch.code))
                else -> append(ch)
            }
        }
        append('"')
    }
}
