// Checks, on a Mac, the claims the Swift layer makes about Task cancellation: cancelling the
// Task of `registerOnceCancellable()` ends the attempt in Rust within a second and throws
// `CancellationError`; a later attempt then registers. Run by .github/workflows/release.yml
// against the conformance DDS, which is told to hold its first answer for 5 s.
//
//   POSEMESH_DDS_URL   the conformance DDS (`posemesh-registration mock-dds`)
//
// Exits 0 when every claim held, 1 with the reason otherwise. Parsed here by
// bindings-uniffi/test.sh (no Swift toolchain on Linux).

import Foundation
import PosemeshRegistration

@main
struct CancelCheck {
    static func fail(_ reason: String) -> Never {
        print("cancel check failed: \(reason)")
        exit(1)
    }

    static func main() async {
        guard let ddsURL = ProcessInfo.processInfo.environment["POSEMESH_DDS_URL"] else {
            fail("set POSEMESH_DDS_URL")
        }
        do {
            let config = RegistrarConfig(
                ddsUrl: ddsURL,
                flow: .wallet,
                nodeVersion: "1.0.0",
                capabilities: ["/capture/scan/v1"]
            )
            let registrar = try await Registrar.create(
                config: config,
                key: NodeKey.generate(),
                registrationCredentials: "cancel-check-secret"
            )
            let attempt = Task { try await registrar.registerOnceCancellable() }
            try await Task.sleep(nanoseconds: 500_000_000)
            let cancelledAt = Date()
            attempt.cancel()
            do {
                _ = try await attempt.value
                fail("the cancelled attempt completed")
            } catch is CancellationError {
                let took = Date().timeIntervalSince(cancelledAt)
                if took > 1.0 {
                    fail("cancellation took \(took) s: it did not reach Rust")
                }
            }
            // The DDS answers at once now: the registrar is usable after a cancellation.
            _ = try await registrar.registerOnceCancellable()
            print("cancellation reached Rust; the next attempt registered")
            exit(0)
        } catch {
            fail(error.localizedDescription)
        }
    }
}
