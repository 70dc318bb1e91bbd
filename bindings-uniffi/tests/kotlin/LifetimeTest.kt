package com.posemesh.registration.tests

// The package imported by `*`, as an app writes it: then `use {}` is uniffi's
// `Disposable.use`, which calls destroy(), not close().
import com.posemesh.registration.*
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Timeout
import java.util.UUID
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.Test
import kotlin.test.assertEquals

/** Lifetimes as the README writes them. */
@Timeout(120)
class LifetimeTest {
    /** Answers every request 503 at once and counts them: a loop left running keeps sending. */
    private class Refusing : HttpClient {
        val sent = AtomicInteger()
        override suspend fun send(request: HttpRequest): HttpResponse {
            sent.incrementAndGet()
            return HttpResponse(503, emptyList(), ByteArray(0))
        }
    }

    @Test
    fun useAsTheReadmeWritesItStopsTheLoop(): Unit = runBlocking {
        val client = Refusing()
        val config = RegistrarConfig(
            ddsUrl = "http://127.0.0.1:9",
            nodeVersion = "1.2.3",
            capabilities = listOf("/reconstruction/global-refinement/v1"),
        )
        repeat(200) {
            NodeKey.generate().use { key ->
                Registrar.create(config, key, "reg-secret-" + UUID.randomUUID(), client).use { r -> r.start() }
            }
        }
        // A loop that outlived use {} makes its first attempt within about a second, then
        // retries a second or two later: the count would still be growing.
        delay(2_500)
        val settled = client.sent.get()
        delay(3_000)
        assertEquals(settled, client.sent.get(), "loops kept sending after use {}")
    }
}
