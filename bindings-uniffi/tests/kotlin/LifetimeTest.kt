package com.posemesh.registration.tests

// The package imported by `*`, as an app writes it: then `use {}` is uniffi's
// `Disposable.use`, which calls destroy(), not close().
import com.posemesh.registration.*
import kotlinx.coroutines.CoroutineExceptionHandler
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.junit.jupiter.api.Timeout
import java.io.File
import java.nio.file.Files
import java.util.UUID
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.Test
import kotlin.test.assertEquals
import kotlin.test.assertTrue

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

    private val config = RegistrarConfig(
        ddsUrl = "http://127.0.0.1:9",
        nodeVersion = "1.2.3",
        capabilities = listOf("/reconstruction/global-refinement/v1"),
    )

    /** The process's threads (the JVM's and the library's native ones): Linux's /proc. */
    private fun threads(): Int = File("/proc/self/task").list()?.size ?: 0

    /** The process's open sockets. */
    private fun sockets(): Int = File("/proc/self/fd").listFiles()?.count {
        runCatching { Files.readSymbolicLink(it.toPath()).toString().startsWith("socket:") }.getOrDefault(false)
    } ?: 0

    @Test
    fun useAsTheReadmeWritesItStopsTheLoop(): Unit = runBlocking {
        val client = Refusing()
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

    @Test
    fun twoHundredRoundsLeaveNoThreadOrSocketBehind(): Unit = runBlocking {
        // The library's own HTTP client, to a port nothing listens on: each attempt opens a socket.
        val client = builtInHttpClient()
        suspend fun round() = NodeKey.generate().use { key ->
            Registrar.create(config, key, "reg-secret-" + UUID.randomUUID(), client).use { r ->
                r.start()
                assertTrue(r.waitForStatus(RegistrationStatus.REGISTERING, java.time.Duration.ofSeconds(5)))
            }
        }
        repeat(5) { round() } // the shared runtime and its pools exist from here on
        delay(500)
        val threadsBefore = threads()
        val socketsBefore = sockets()
        repeat(200) { round() }
        delay(1_000)
        val threadsAfter = threads()
        val socketsAfter = sockets()
        // A thread or a socket per round would add 200; the runtime's pools may vary by a few.
        assertTrue(threadsAfter <= threadsBefore + 8, "threads: $threadsBefore before, $threadsAfter after")
        assertTrue(socketsAfter <= socketsBefore + 4, "sockets: $socketsBefore before, $socketsAfter after")
    }

    @Test
    fun statusFlowsAroundCloseCompleteAndThrowNothingIntoTheirScope(): Unit = runBlocking {
        val thrown = AtomicInteger()
        val handler = CoroutineExceptionHandler { _, _ -> thrown.incrementAndGet() }
        repeat(200) { round ->
            NodeKey.generate().use { key ->
                val registrar = Registrar.create(config, key, "reg-secret-" + UUID.randomUUID(), Refusing())
                registrar.start()
                val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default + handler)
                try {
                    // Collection starts just before close(), or (the scheduler decides) just after.
                    val changes = scope.launch { registrar.statusChanges().collect {} }
                    val state = registrar.statusFlow(scope)
                    registrar.close()
                    withTimeout(5_000) { changes.join() } // completed, not left waiting
                    assertTrue(changes.isCompleted && !changes.isCancelled, "round $round: cancelled")
                    assertTrue(state.value in RegistrationStatus.entries)
                } finally {
                    scope.cancel()
                }
            }
        }
        assertEquals(0, thrown.get(), "exceptions thrown into the collectors' scope")
    }

    @Test
    fun callsAfterCloseThrowTheLibrarysException(): Unit = runBlocking {
        val key = NodeKey.generate()
        val registrar = Registrar.create(config, key, "reg-secret-" + UUID.randomUUID(), Refusing())
        registrar.close()
        key.close()
        val closed = kotlin.test.assertFailsWith<RegistrationException.Closed> { registrar.status() }
        assertEquals("Registrar is closed", closed.message)
        kotlin.test.assertFailsWith<RegistrationException.Closed> { registrar.start() }
        kotlin.test.assertFailsWith<RegistrationException.Closed> { registrar.registerOnce() }
        val keyClosed = kotlin.test.assertFailsWith<RegistrationException.Closed> { key.ethAddress() }
        assertEquals("NodeKey is closed", keyClosed.message)
        registrar.close() // closing twice does nothing
    }

    /** An app client that never answers, and says when its call was given up. */
    private class Hanging : HttpClient {
        val abandoned = AtomicInteger()
        override suspend fun send(request: HttpRequest): HttpResponse {
            try {
                awaitCancellation()
            } finally {
                abandoned.incrementAndGet()
            }
        }
    }

    @Test
    fun anAppClientThatNeverAnswersTimesOutByTheRequestTimeout(): Unit = runBlocking {
        // The deadline is the driver's: the binding's transport keeps no timer of its own.
        val client = Hanging()
        val quick = config.copy(requestTimeoutSeconds = 0.5)
        NodeKey.generate().use { key ->
            Registrar.create(quick, key, "reg-secret-" + UUID.randomUUID(), client).use { registrar ->
                val started = System.nanoTime()
                val failed = kotlin.test.assertFailsWith<RegistrationException.AttemptFailed> {
                    withTimeout(10_000) { registrar.registerOnce() }
                }
                val seconds = (System.nanoTime() - started) / 1e9
                assertEquals(FailureClass.RETRY_FAST, failed.failureClass)
                assertTrue(seconds < 5, "gave up after $seconds s")
                // The abandoned call is cancelled, not left running in the app.
                withTimeout(5_000) { while (client.abandoned.get() == 0) delay(10) }
                assertEquals(RegistrationStatus.DISCONNECTED, registrar.status())
            }
        }
    }
}
