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

    func testInvalidKeyThrowsWithoutEchoingIt() {
        XCTAssertThrowsError(try NodeKey.fromHex(hex: "not a key")) { error in
            XCTAssertFalse(String(describing: error).contains("not a key"))
        }
    }
}
