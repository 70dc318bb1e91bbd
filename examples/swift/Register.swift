// Registers this device as a posemesh node with a DDS (wallet flow) and exits.
//
// The app supplies the I/O: an HttpClient over URLSession, a SnapshotStore in UserDefaults
// (use the Keychain in a real app: the snapshot can hold a DDS-issued secret) and a Logger
// printing events. Pass `nil` for the client to use the library's built-in one.
//
//   POSEMESH_DDS_URL              DDS base URL (required)
//   POSEMESH_PRIVATE_KEY          node key as hex (default: a fresh random key)
//   POSEMESH_REGISTRATION_SECRET  registration credentials (default: a demo value)
//
// Not compiled or run in this repository (no Swift toolchain): bindings-uniffi/test.sh parses
// it with tree-sitter-swift. Build it in a package that depends on PosemeshRegistration.

import Foundation
import PosemeshRegistration

/// Refuses every redirect: a followed one would carry the signed body, with the
/// registration credentials, to whatever host it names. The 3xx comes back as
/// it is and the registrar reports it.
final class RefuseRedirects: NSObject, URLSessionTaskDelegate {
    func urlSession(_ session: URLSession, task: URLSessionTask,
                    willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest) async -> URLRequest? {
        nil
    }
}

/// The app's URLSession, adapted to the library's `HttpClient`.
final class URLSessionHttpClient: HttpClient {
    private let session: URLSession

    init(session: URLSession = .shared) {
        self.session = session
    }

    func send(request: HttpRequest) async throws -> HttpResponse {
        guard let url = URL(string: request.url()) else {
            throw RegistrationError.Http(kind: .other, detail: "not a URL")
        }
        var urlRequest = URLRequest(url: url, timeoutInterval: request.timeout())
        urlRequest.httpMethod = request.method()
        urlRequest.httpBody = request.body()
        for header in request.headers() {
            urlRequest.setValue(header.value, forHTTPHeaderField: header.name)
        }
        do {
            // Cancelled with the Task when the registrar no longer needs the answer.
            let (data, response) = try await session.data(for: urlRequest, delegate: RefuseRedirects())
            guard let http = response as? HTTPURLResponse else {
                throw RegistrationError.Http(kind: .other, detail: "not an HTTP response")
            }
            let headers = http.allHeaderFields.map { name, value in
                HttpHeader(name: "\(name)", value: "\(value)")
            }
            // The registrar reads at most 64 KiB of a body.
            return HttpResponse(
                statusCode: http.statusCode,
                headers: headers,
                body: Data(data.prefix(64 * 1024))
            )
        } catch let error as URLError {
            switch error.code {
            case .timedOut:
                throw RegistrationError.Http(kind: .timeout, detail: error.localizedDescription)
            case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .secureConnectionFailed:
                throw RegistrationError.Http(kind: .connect, detail: error.localizedDescription)
            default:
                throw RegistrationError.Http(kind: .io, detail: error.localizedDescription)
            }
        }
    }
}

/// Keeps the registration snapshot in UserDefaults. A real app should use the Keychain.
final class UserDefaultsSnapshotStore: SnapshotStore {
    private let key: String

    init(key: String = "posemesh.registration.snapshot") {
        self.key = key
    }

    func load() async throws -> Data? {
        UserDefaults.standard.data(forKey: key)
    }

    func save(snapshot: Data) async throws {
        UserDefaults.standard.set(snapshot, forKey: key)
    }
}

/// Prints events; they never contain the key or the registration secret.
/// (Qualify it as `PosemeshRegistration.Logger` in files that also import `os`.)
final class PrintLogger: PosemeshRegistration.Logger {
    func log(event: LogEvent) throws {
        if event.level != .debug {
            print("[\(event.level)] \(event.name): \(event.message)")
        }
    }
}

@main
struct RegisterExample {
    static func main() async {
        let environment = ProcessInfo.processInfo.environment
        guard let ddsURL = environment["POSEMESH_DDS_URL"] else {
            print("error: set POSEMESH_DDS_URL to the DDS base URL")
            exit(2)
        }
        do {
            let key = try environment["POSEMESH_PRIVATE_KEY"].map { try NodeKey.fromHex(hex: $0) }
                ?? NodeKey.generate()
            let config = RegistrarConfig(
                ddsUrl: ddsURL,
                flow: .wallet,
                nodeVersion: "1.0.0",
                capabilities: ["/capture/scan/v1"]
            )
            // `create` loads the store without blocking the caller (the main actor in an app).
            let registrar = try await Registrar.create(
                config: config,
                key: key,
                registrationCredentials: environment["POSEMESH_REGISTRATION_SECRET"] ?? "demo-registration-secret",
                httpClient: URLSessionHttpClient(),
                store: UserDefaultsSnapshotStore(),
                logger: PrintLogger()
            )
            // Cancelling this Task would cancel the attempt (registerOnce() alone would not notice).
            _ = try await registrar.registerOnceCancellable()
            print("registered \(registrar.address()) with \(ddsURL)")
            // Prints the DDS, the address and the status; never a secret.
            print(registrar)
            exit(0)
        } catch RegistrationError.AttemptFailed(let failureClass, let status, _, let detail, let hint) {
            print("error: \(detail) (\(failureClass), status \(status.map(String.init) ?? "none"))")
            if let hint { print("hint: \(hint)") }
            exit(1)
        } catch {
            // InvalidKey, InvalidConfig, ...: the Rust text, never the key or the secret.
            print("error: \(error.localizedDescription)")
            exit(2)
        }
    }
}
