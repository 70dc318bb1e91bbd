// Links the XCFramework's static Rust library into a test binary and calls through it, on
// macOS (`swift test`) and on an iOS simulator (`xcodebuild test`): release.yml's apple job.
// The vector is the first of tests/vectors/keys.json and signatures.json ("hello").

import XCTest
import PosemeshRegistration

final class LinkTests: XCTestCase {
    private let privateKeyHex = "4c0883a69102937d6231471b5dbb6204fe5129617082798ce3f4fdf2548b6f90"
    private let address = "0xfdbb6caf01414300c16ea14859fec7736d95355f"
    private let helloSignature =
        "90e3a653f834735107024195de9fd0824f3602a46ba9917ad726f4826644b1da"
        + "1348d671908e52d378a679ed5057e2a60148643c78ee5e392bc44b35e379ee2a01"

    func testSharedVector() throws {
        let key = try NodeKey.fromHex(hex: privateKeyHex)
        XCTAssertEqual(key.ethAddress(), address)
        XCTAssertEqual(key.signRegistration(message: "hello"), helloSignature)
    }

    func testGeneratedKeyRoundTrip() throws {
        let key = try NodeKey.generate()
        let again = try NodeKey.fromBytes(bytes: key.exportPrivateKeyBytes())
        XCTAssertEqual(again.ethAddress(), key.ethAddress())
        XCTAssertEqual(key.signRegistration(message: "posemesh").count, 130)
    }

    // The checks Auki's newer clients make (docs/behaviour.md), through the Swift API.

    func testPlaintextDdsIsRefusedUnlessLoopbackOrAllowed() throws {
        let key = try NodeKey.generate()
        func config(_ ddsUrl: String, allow: Bool = false) -> RegistrarConfig {
            RegistrarConfig(ddsUrl: ddsUrl, nodeVersion: "1.0.0", capabilities: ["/capture/scan/v1"],
                            allowPlaintextDds: allow)
        }
        XCTAssertThrowsError(try Registrar(config: config("http://dds.example.com"), key: key,
                                           registrationCredentials: "s3cret")) { error in
            guard case RegistrationError.InvalidConfig(let reason) = error else {
                return XCTFail("expected InvalidConfig, got \(error)")
            }
            XCTAssertTrue(reason.contains("unencrypted"), reason)
        }
        _ = try Registrar(config: config("http://dds.example.com", allow: true), key: key,
                          registrationCredentials: "s3cret")
        _ = try Registrar(config: config("http://127.0.0.1:1"), key: key, registrationCredentials: "s3cret")
        XCTAssertThrowsError(try siweNonceRequest(ddsUrl: "http://dds.example.com", wallet: key.ethAddress()))
        let allowed = try siweNonceRequest(ddsUrl: "http://dds.example.com", wallet: key.ethAddress(),
                                           allowPlaintextDds: true)
        XCTAssertTrue(allowed.url().hasPrefix("http://dds.example.com/internal/v1/"))
    }

    func testCapabilitiesArePaths() throws {
        let key = try NodeKey.generate()
        for capabilities in [[], ["c"], ["/splatter colmap/v1"]] {
            let config = RegistrarConfig(ddsUrl: "https://dds.example.com", nodeVersion: "1.0.0",
                                         capabilities: capabilities)
            XCTAssertThrowsError(try Registrar(config: config, key: key, registrationCredentials: "s3cret"))
        }
    }

    func testConflictAndMissingStakeSayWhatToDo() throws {
        for (status, hint) in [(Int32(409), "same wallet"), (Int32(402), "stake")] {
            let answer = HttpResponse(status: status, body: Data("no".utf8))
            let failure = try XCTUnwrap(classifyResponse(endpoint: "https://dds.example.com/x",
                                                         response: answer, now: Date()))
            XCTAssertTrue(try XCTUnwrap(failure.hint).contains(hint))
            XCTAssertTrue(failure.detail.hasSuffix("body_snippet: no"), failure.detail)
        }
    }

    func testInvalidKeyThrowsWithoutEchoingIt() {
        XCTAssertThrowsError(try NodeKey.fromHex(hex: "not a key")) { error in
            XCTAssertFalse(String(describing: error).contains("not a key"))
        }
    }
}
