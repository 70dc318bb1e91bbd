// Hand-written Swift of the PosemeshRegistration package, beside the generated
// PosemeshRegistration.swift (generate.sh leaves this file alone): Swift concurrency the way
// apps use it, and readable errors.
//
// Checked on Linux by check_swift.py (tree-sitter parse, and every member it uses must be
// declared by the generated Swift); compiled only where a Swift toolchain is (a Mac).

import Foundation

// MARK: - Errors

/// The generated enum has the Rust error text as `description` but does not declare the
/// conformance. With it, `String(reflecting:)`, which the generated `errorDescription` returns,
/// is that text: `error.localizedDescription` reads "registration attempt failed (retry_fast):
/// …" rather than a dump of the enum's fields.
extension RegistrationError: CustomStringConvertible {}

// MARK: - Task cancellation

extension Registrar {
    /// `registerOnce()`, cancelled with the calling `Task`.
    ///
    /// uniffi's async calls do not see Swift `Task` cancellation: the generated
    /// `registerOnce()` keeps waiting for the attempt. This one passes a `CancelToken` and
    /// cancels it from `withTaskCancellationHandler`, so cancelling the `Task` ends the
    /// attempt in Rust at once (its request dropped, and with it the app's `send` call) and
    /// this throws `CancellationError`.
    public func registerOnceCancellable() async throws -> AttemptOutcome {
        let token = CancelToken()
        do {
            return try await withTaskCancellationHandler {
                try await self.registerOnceWith(cancel: token)
            } onCancel: {
                token.cancel()
            }
        } catch RegistrationError.Stopped where token.isCancelled() {
            throw CancellationError()
        }
    }

    /// `run()`, cancelled with the calling `Task`: cancelling it stops the loop (its request
    /// dropped) and this throws `CancellationError`. `stop()` still ends it normally.
    public func runCancellable() async throws {
        let token = CancelToken()
        do {
            try await withTaskCancellationHandler {
                try await self.runWith(cancel: token)
            } onCancel: {
                token.cancel()
            }
        } catch RegistrationError.Stopped where token.isCancelled() {
            throw CancellationError()
        }
    }

    // MARK: - Status

    /// The status as an `AsyncStream`: the current status, then every change, none skipped
    /// (`status()`'s values: never a stale `.registering` after a failed or stopped attempt).
    /// Each access makes a new stream with its own watch; the watch ends when the consuming
    /// `Task` is cancelled or the loop over it is left.
    ///
    ///     for await status in registrar.statusUpdates { label.text = "\(status)" }
    public var statusUpdates: AsyncStream<RegistrationStatus> {
        let watch = self.watchStatus()
        return AsyncStream { continuation in
            let reader = Task {
                while let status = await watch.next(cancel: nil) {
                    continuation.yield(status)
                }
                continuation.finish()
            }
            continuation.onTermination = { _ in
                // Ends a waiting next(): Swift task cancellation alone would not reach Rust.
                watch.cancel()
                reader.cancel()
            }
        }
    }
}

// MARK: - HTTP status codes as Int

extension HttpResponse {
    /// The response as `HTTPURLResponse` gives it: `statusCode` is an `Int` (uniffi's status is
    /// an `Int32`; a value out of its range is clamped, and any status outside 100...999
    /// makes the attempt fail with a message that says so).
    public init(statusCode: Int, headers: [HttpHeader] = [], body: Data) {
        self.init(status: Int32(clamping: statusCode), headers: headers, body: body)
    }
}
