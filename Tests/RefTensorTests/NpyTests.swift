import XCTest
@testable import RefTensor

/// Files written by NumPy (tools/make_npy_test_files.py); expected values are the
/// closed forms that script writes.
final class NpyTests: XCTestCase {
    func read(_ name: String) throws -> Npy.Array { try Npy.read(contentsOf: TestResources.path("npy/" + name)) }

    func testReadsFloat32Version1() throws {
        let a = try read("f32_2x3.npy")
        XCTAssertEqual(a.shape, [2, 3]); XCTAssertEqual(a.dtype, .float32)
        XCTAssertEqual(try a.tensor(Float.self).scalars, (0..<6).map { Float($0) * 0.5 })
    }

    func testReadsFortranOrderInCOrder() throws {
        let t = try read("f64_fortran_2x3x4.npy").tensor(Double.self)
        XCTAssertEqual(t.shape, [2, 3, 4])
        XCTAssertEqual(t.scalars, (0..<24).map(Double.init))   // arange(24).reshape(2,3,4), in C order
    }

    func testReadsBigEndian() throws {
        XCTAssertEqual(try read("f32_bigendian_3x2.npy").tensor(Float.self).scalars, [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try read("f64_bigendian_4.npy").tensor(Double.self).scalars, [-1.5, -0.5, 0.5, 1.5])
    }

    func testReadsIntegerUint8BoolAndScalars() throws {
        XCTAssertEqual(try read("i32_5.npy").int32s(), [-2, -1, 0, 1, 2])
        XCTAssertEqual(try read("i64_5.npy").int32s(), [0, 3, 6, 9, 12])
        XCTAssertEqual(try read("u8_2x2.npy").doubles(), [0, 1, 254, 255])
        XCTAssertEqual(try read("bool_3.npy").doubles(), [1, 0, 1])
        let s = try read("f64_scalar.npy")
        XCTAssertEqual(s.shape, []); XCTAssertEqual(try s.tensor(Double.self).scalar, 2.25)
    }

    func testReadsVersions2And3() throws {
        XCTAssertEqual(try read("f32_v2_2x2.npy").tensor(Float.self).scalars, [0, 1, 2, 3])
        XCTAssertEqual(try read("f32_v3_2x2.npy").tensor(Float.self).scalars, [0, 1, 2, 3])
    }

    func testRefusesWhatItCannotRead() throws {
        XCTAssertThrowsError(try read("complex_2.npy")) { e in XCTAssertTrue("\(e)".contains("unsupported dtype"), "\(e)") }
        XCTAssertThrowsError(try read("missing.npy")) { e in XCTAssertTrue("\(e)".contains("missing.npy"), "\(e)") }
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: TestResources.path("npy/f32_2x3.npy"))))
        XCTAssertThrowsError(try Npy.decode(Array(bytes.dropLast(3)), name: "cut.npy")) { e in
            XCTAssertTrue("\(e)".contains("cut.npy") && "\(e)".contains("needs 24"), "\(e)")
        }
        bytes[1] = 0
        XCTAssertThrowsError(try Npy.decode(bytes, name: "bad.npy")) { e in XCTAssertTrue("\(e)".contains("magic"), "\(e)") }
        XCTAssertThrowsError(try read("i32_5.npy").tensor(Float.self))
        XCTAssertThrowsError(try read("f32_2x3.npy").int32s())
    }

    func testWriteThenReadRoundTripsAndAlignsTheHeader() throws {
        let t: Tensor<Double> = randomTensor([3, 1, 4], seed: 8)
        let bytes = Npy.encode(t)
        let headerEnd = 10 + Int(bytes[8]) + Int(bytes[9]) << 8
        XCTAssertEqual(headerEnd % 64, 0, "format 1.0 aligns the data to 64 bytes")
        XCTAssertEqual(try Npy.decode(bytes, name: "t").tensor(Double.self), t)
        let f = Tensor<Float>(shape: [], scalars: [1.5])
        XCTAssertEqual(try Npy.decode(Npy.encode(f), name: "f").tensor(Float.self), f)
        XCTAssertEqual(try Npy.decode(Npy.encode(int32s: [4, -5], shape: [2]), name: "i").int32s(), [4, -5])
    }
}
