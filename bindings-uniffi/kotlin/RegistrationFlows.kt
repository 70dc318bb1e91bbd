// Hand-written Kotlin shipped with the generated bindings (generate.sh copies it next to
// posemesh_registration.kt): the registrar's status as a Kotlin Flow / StateFlow.
package com.posemesh.registration

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.SharingStarted
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.distinctUntilChanged
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.stateIn

/**
 * The registrar's status as a cold [Flow]: the current status, then every change, none
 * skipped (a change made while the collector is busy is delivered afterwards). Each
 * collection watches on its own ([Registrar.watchStatus]) and stops watching when it is
 * cancelled. The values are those of [Registrar.status]: never a stale `REGISTERING` after a
 * failed or stopped attempt. It follows the registrar across `stop()` and `start()` and
 * completes when the registrar is closed (also when collection begins after that).
 */
fun Registrar.statusChanges(): Flow<RegistrationStatus> = flow {
    // Closed before collection began: there is nothing to follow, and nothing is thrown
    // into the collector's scope (an Android service's, say): the flow just completes.
    val watch = try {
        watchStatus()
    } catch (_: RegistrationException.Closed) {
        return@flow
    }
    try {
        while (true) {
            val status = watch.next(null) ?: break
            emit(status)
        }
    } finally {
        watch.cancel()
        watch.close()
    }
}.distinctUntilChanged()

/**
 * The registrar's status as a [StateFlow] in [scope] (a `viewModelScope`, a service's scope):
 * `value` is always current, and collectors see each change (a StateFlow conflates changes a
 * slow collector has not read yet, as every StateFlow does; use [statusChanges] for all of
 * them). Watching ends when [scope] is cancelled; by default it runs while the scope lives
 * ([SharingStarted.Eagerly]), pass `SharingStarted.WhileSubscribed(5_000)` to watch only
 * while the UI collects.
 */
fun Registrar.statusFlow(
    scope: CoroutineScope,
    started: SharingStarted = SharingStarted.Eagerly,
): StateFlow<RegistrationStatus> = statusChanges().stateIn(scope, started, status())
