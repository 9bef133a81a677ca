import RefTensor
import Foundation
let n = Int(CommandLine.arguments.dropFirst().first ?? "512")!
var a = [Float](repeating: 0, count: n*n).map { _ in Float.random(in: -1...1) }
var b = a.map { $0 * 0.5 }
var c = [Float](repeating: 0, count: n*n)
for _ in 0..<3 {
let t0 = Date()
a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
  Gemm.fast(m: n, n: n, k: n, a: .rowMajor(ap.baseAddress!, columns: n), b: .rowMajor(bp.baseAddress!, columns: n), c: cp.baseAddress!, ldc: n, accumulate: false)
}}}
let dt = Date().timeIntervalSince(t0)
print("gflops", 2.0*Double(n*n*n)/dt/1e9)
}
