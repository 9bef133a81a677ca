/// TensorFlow's `tf.image.resize(..., method=BICUBIC)` (no antialiasing), as the
/// original resizes its ImageNet crops to 224 x 224:
///
///     source coordinate of output i:  s = (i + 0.5) * (in / out) - 0.5   (half-pixel centres)
///     taps floor(s) - 1 ... floor(s) + 2, weights Keys' cubic (a = -0.5) at the
///     distances, read from a 1024-step table at round(frac(s) * 1024)
///     taps outside the image get weight 0 and the others are renormalised to sum 1
///
/// Separable, vertical then horizontal, in Float as TensorFlow computes it. Values
/// are not clamped to [0, 255] (bicubic overshoots; the original does not clamp).
public enum BicubicResize {
    /// Steps of the weight table (TensorFlow's kTableSize).
    static let tableSize = 1024
    /// Keys' cubic with a = -0.5: table[2i] = W(i / 1024), table[2i + 1] = W(1 + i / 1024).
    static let table: [Float] = {
        let a: Float = -0.5
        var t = [Float](repeating: 0, count: (tableSize + 1) * 2)
        for i in 0...tableSize {
            var x = Float(i) / Float(tableSize)
            t[2 * i] = ((a + 2) * x - (a + 3)) * x * x + 1
            x += 1
            t[2 * i + 1] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
        }
        return t
    }()

    /// The four source indices and weights of each output coordinate: output i reads
    /// `index[4i ..< 4i + 4]` with `weight[4i ..< 4i + 4]`.
    struct Taps { var index: [Int]; var weight: [Float] }

    static func taps(inSize: Int, outSize: Int) -> Taps {
        let scale = Float(inSize) / Float(outSize)
        var taps = Taps(index: [], weight: [])
        taps.index.reserveCapacity(4 * outSize); taps.weight.reserveCapacity(4 * outSize)
        for i in 0..<outSize {
            let s = (Float(i) + 0.5) * scale - 0.5
            let base = Int(s.rounded(.down))
            let offset = Int(((s - Float(base)) * Float(tableSize)).rounded(.toNearestOrEven))
            let raw = [table[offset * 2 + 1], table[offset * 2], table[(tableSize - offset) * 2], table[(tableSize - offset) * 2 + 1]]
            var weight = [Float](repeating: 0, count: 4)
            for k in 0..<4 {
                let j = base - 1 + k, bounded = min(inSize - 1, max(0, j))
                taps.index.append(bounded); weight[k] = bounded == j ? raw[k] : 0
            }
            let sum = weight[0] + weight[1] + weight[2] + weight[3]
            if abs(sum) >= 1000 * Float.leastNormalMagnitude { let inv = 1 / sum; weight = weight.map { $0 * inv } }
            taps.weight += weight
        }
        return taps
    }

    /// The `window` of an image (`pixels`, `height` x `width` x `channels`, row-major)
    /// resized to `outHeight` x `outWidth`: [outHeight * outWidth * channels]. Each output
    /// row interpolates the window's columns vertically once, then each output pixel
    /// combines four of those columns.
    public static func resize(_ pixels: UnsafeBufferPointer<UInt8>, height: Int, width: Int, channels c: Int,
                              window: ImageNetCrop.Window, outHeight: Int, outWidth: Int) -> [Float] {
        precondition(window.y >= 0 && window.x >= 0 && window.y + window.height <= height && window.x + window.width <= width,
                     "crop window \(window) outside a \(height)x\(width) image")
        let ys = taps(inSize: window.height, outSize: outHeight), xs = taps(inSize: window.width, outSize: outWidth)
        var out = [Float](repeating: 0, count: outHeight * outWidth * c)
        var column = [Float](repeating: 0, count: window.width * c)     // this output row, interpolated vertically
        func pixel(_ y: Int, _ x: Int, _ ch: Int) -> Float { Float(pixels[((window.y + y) * width + window.x + x) * c + ch]) }
        for oy in 0..<outHeight {
            let (r0, r1, r2, r3) = (ys.index[4 * oy], ys.index[4 * oy + 1], ys.index[4 * oy + 2], ys.index[4 * oy + 3])
            let (w0, w1, w2, w3) = (ys.weight[4 * oy], ys.weight[4 * oy + 1], ys.weight[4 * oy + 2], ys.weight[4 * oy + 3])
            for x in 0..<window.width {
                for ch in 0..<c {
                    column[x * c + ch] = w0 * pixel(r0, x, ch) + w1 * pixel(r1, x, ch) + w2 * pixel(r2, x, ch) + w3 * pixel(r3, x, ch)
                }
            }
            for ox in 0..<outWidth {
                for ch in 0..<c {
                    var v: Float = 0
                    for k in 0..<4 { v += xs.weight[4 * ox + k] * column[xs.index[4 * ox + k] * c + ch] }
                    out[(oy * outWidth + ox) * c + ch] = v
                }
            }
        }
        return out
    }
}
