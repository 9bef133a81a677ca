import Foundation
import RefSAMParams
import RefSAMTraining
import RefTensor

/// Flax's legacy msgpack checkpoints (`flax.training.checkpoints`, as flax 0.6.5
/// writes them): a file `checkpoint_<step>` holding a msgpack map
///
///     {"step": int, "params": tree, "opt_state": {"0": {"trace": tree}, "1": {"count": int}},
///      "batch_stats": tree, "dynamic_scale": nil, "mask": tree}
///
/// where a tree is nested maps keyed by module names and every array is msgpack
/// extension type 1 whose payload is the msgpack array [shape, dtype name, raw
/// C-order little-endian bytes]. `flax.serialization.msgpack_restore` reads what
/// this writes; this reads what the original JAX code writes (masks as bool arrays,
/// `step` and `count` as int32 scalar arrays or plain ints). Tree keys are written
/// sorted and integers in msgpack's smallest form, as Flax writes them, so a
/// checkpoint is byte-identical to Flax's for the same state (tested on Flax files).
public enum Checkpoint {
    /// File names are `checkpoint_<step>`, as Flax names them.
    public static let prefix = "checkpoint_"
    /// Checkpoints kept per run directory (the newest), as the original keeps.
    public static let keep = 3

    // MARK: Writing

    static func ndarray<T: RefScalar>(_ t: Tensor<T>) -> MessagePack {
        let dtype = T.dtypeName
        let payload = MessagePack.array([.array(t.shape.map { .int(Int64($0)) }), .string(dtype),
                                         .binary(t.scalars.withUnsafeBytes { Array($0) })])
        return .ext(type: 1, data: payload.encoded())
    }

    static func ndarray(bool values: [Bool], shape: [Int]) -> MessagePack {
        let payload = MessagePack.array([.array(shape.map { .int(Int64($0)) }), .string("bool"), .binary(values.map { $0 ? 1 : 0 })])
        return .ext(type: 1, data: payload.encoded())
    }

    static func scalarInt32(_ v: Int) -> MessagePack {
        let payload = MessagePack.array([.array([]), .string("int32"), .binary(withUnsafeBytes(of: Int32(v).littleEndian) { Array($0) })])
        return .ext(type: 1, data: payload.encoded())
    }

    /// Nested maps from flat paths, keys sorted at every level as Flax sorts them.
    static func nest(_ leaves: [(String, MessagePack)]) -> MessagePack {
        var order: [String] = []
        var children: [String: [(String, MessagePack)]] = [:]
        var direct: [String: MessagePack] = [:]
        for (path, v) in leaves {
            let parts = path.split(separator: "/", maxSplits: 1).map(String.init)
            if !order.contains(parts[0]) { order.append(parts[0]) }
            if parts.count == 1 { direct[parts[0]] = v } else { children[parts[0], default: []].append((parts[1], v)) }
        }
        // Keys sorted by code point, as Flax writes them (Python's sorted()), so a
        // checkpoint is byte-identical to Flax's for the same tree.
        order.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        return .map(order.map { k in (.string(k), direct[k] ?? nest(children[k]!)) })
    }

    /// The msgpack bytes of `s` in Flax's layout (see the type's documentation); masks as bool arrays.
    public static func encode<T: RefScalar>(_ s: TrainState<T>) -> [UInt8] {
        let tree = { (t: TensorTree<T>) in nest(t.entries.map { ($0.path, ndarray($0.tensor)) }) }
        let mask: MessagePack
        if let m = s.mask {
            mask = nest(m.entries.map { ($0.path, ndarray(bool: $0.tensor.scalars.map { $0 != 0 }, shape: $0.tensor.shape)) })
        } else {
            mask = nest(s.params.entries.map { ($0.path, ndarray(bool: [Bool](repeating: true, count: $0.tensor.count), shape: $0.tensor.shape)) })
        }
        let state = MessagePack.map([
            (.string("step"), scalarInt32(s.step)),
            (.string("params"), tree(s.params)),
            (.string("opt_state"), .map([(.string("0"), .map([(.string("trace"), tree(s.trace))])),
                                         (.string("1"), .map([(.string("count"), scalarInt32(s.step))]))])),
            (.string("batch_stats"), tree(s.batchStats)),
            (.string("dynamic_scale"), .nil_),
            (.string("mask"), mask),
        ])
        return state.encoded()
    }

    /// Writes `checkpoint_<step>` in `directory` (a `DurableFile`), then deletes all
    /// but the newest `keep`.
    @discardableResult
    public static func save<T: RefScalar>(_ s: TrainState<T>, directory: String, keep: Int = Checkpoint.keep) throws -> String {
        try DurableFile.makeDirectory(directory)
        let final = (directory as NSString).appendingPathComponent(prefix + String(s.step))
        try DurableFile.write(encode(s), to: final)
        for old in try list(directory).dropLast(keep) { try? FileManager.default.removeItem(atPath: old.path) }
        return final
    }

    /// Checkpoints in `directory`, oldest first (by step).
    public static func list(_ directory: String) throws -> [(step: Int, path: String)] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix(prefix), let step = Int(n.dropFirst(prefix.count)) else { return nil }
            return (step, (directory as NSString).appendingPathComponent(n))
        }.sorted { $0.0 < $1.0 }
    }

    // MARK: Reading

    /// Reads a checkpoint into a state of T (float arrays are converted).
    public static func load<T: RefScalar>(_ path: String, _: T.Type = T.self) throws -> TrainState<T> {
        guard let data = FileManager.default.contents(atPath: path) else { throw CheckpointError.malformed(file: path, reason: "cannot read the file") }
        return try decode([UInt8](data), path: path)
    }

    /// Decodes the bytes of a checkpoint file; `path` names it in errors.
    public static func decode<T: RefScalar>(_ bytes: [UInt8], path: String, _: T.Type = T.self) throws -> TrainState<T> {
        let root: MessagePack
        do { root = try MessagePack.decode(bytes) } catch { throw CheckpointError.malformed(file: path, reason: "not a msgpack checkpoint (\(error))") }
        func fail(_ why: String) -> CheckpointError { CheckpointError.malformed(file: path, reason: "\(why)") }
        guard case .map = root else { throw fail("the top level is not a map") }
        guard let paramsNode = root["params"] else { throw fail("no 'params'") }
        let params: TensorTree<T> = try tree(paramsNode, path: path, collection: "params")
        let batchStats: TensorTree<T> = try root["batch_stats"].map { try tree($0, path: path, collection: "batch_stats") } ?? TensorTree()
        var trace = params.zeros
        if let t = root["opt_state"]?["0"]?["trace"] { trace = try tree(t, path: path, collection: "opt_state/0/trace") }
        var mask: TensorTree<T>? = nil
        if let m = root["mask"], case .map = m {
            let mt: TensorTree<T> = try tree(m, path: path, collection: "mask")
            if !mt.isEmpty && mt.entries.contains(where: { $0.tensor.scalars.contains(0) }) { mask = mt }
        }
        guard let stepNode = root["step"] else { throw fail("no 'step'") }
        let step = try integer(stepNode, path: path)
        guard Set(trace.paths) == Set(params.paths) else { throw fail("opt_state trace does not match params") }
        return TrainState(params: params, batchStats: batchStats, trace: trace, mask: mask, step: step)
    }

    static func integer(_ v: MessagePack, path: String) throws -> Int {
        switch v {
        case let .int(i):
            guard i >= 0, i <= Int64(Int32.max) else { throw CheckpointError.malformed(file: path, reason: "step \(i) is not in 0...\(Int32.max)") }
            return Int(i)
        case .ext:
            let a = try array(v, path: path)
            guard a.shape.isEmpty || a.shape == [1] else { throw CheckpointError.malformed(file: path, reason: "step is not a scalar") }
            let s = a.values[0]
            guard s >= 0, s <= Double(Int32.max), s == s.rounded() else {
                throw CheckpointError.malformed(file: path, reason: "step \(s) is not a whole number in 0...\(Int32.max)")
            }
            return Int(s)
        default: throw CheckpointError.malformed(file: path, reason: "step is neither an int nor an array")
        }
    }

    /// Decodes an ndarray extension into shape and Double values.
    static func array(_ v: MessagePack, path: String) throws -> (shape: [Int], values: [Double]) {
        guard case let .ext(type, data) = v else { throw CheckpointError.malformed(file: path, reason: "expected an array") }
        guard type == 1 else { throw CheckpointError.malformed(file: path, reason: "unsupported msgpack extension type \(type) (only ndarray, 1)") }
        guard case let .array(parts) = try MessagePack.decode(data), parts.count == 3,
              case let .array(dims) = parts[0], case let .string(dtype) = parts[1], case let .binary(raw) = parts[2] else {
            throw CheckpointError.malformed(file: path, reason: "malformed ndarray payload")
        }
        let shape = try dims.map { d -> Int in
            guard case let .int(i) = d, i >= 0 else { throw CheckpointError.malformed(file: path, reason: "bad shape \(dims)") }
            return Int(i)
        }
        guard let n = ElementCount.of(shape), n <= raw.count else {
            throw CheckpointError.malformed(file: path, reason: "array of shape \(shape) is larger than its \(raw.count) bytes")
        }
        let size: Int
        switch dtype {
        case "float32", "int32", "uint32": size = 4
        case "float64", "int64": size = 8
        case "bool", "uint8", "int8": size = 1
        default: throw CheckpointError.malformed(file: path, reason: "unsupported array dtype \(dtype)")
        }
        guard raw.count == n * size else { throw CheckpointError.malformed(file: path, reason: "array of \(shape) \(dtype) holds \(raw.count) bytes") }
        let values: [Double] = raw.withUnsafeBytes { r in
            (0..<n).map { i in
                switch dtype {
                case "float32": return Double(Float(bitPattern: r.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case "float64": return Double(bitPattern: r.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                case "int32": return Double(r.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                case "uint32": return Double(r.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                case "int64": return Double(r.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
                case "int8": return Double(Int8(bitPattern: r[i]))
                default: return Double(r[i])
                }
            }
        }
        return (shape, values)
    }

    /// Flattens nested maps of arrays into a tree of T.
    /// `collection` (`params`, `batch_stats`, ...) names the tree in errors.
    static func tree<T: RefScalar>(_ node: MessagePack, path: String, collection: String) throws -> TensorTree<T> {
        var out = TensorTree<T>()
        func walk(_ n: MessagePack, _ at: String) throws {
            let location = at.isEmpty ? collection : collection + "/" + at
            switch n {
            case let .map(pairs):
                for (k, v) in pairs {
                    guard case let .string(key) = k else { throw CheckpointError.malformed(file: path, reason: "non-string key under '\(location)'") }
                    try walk(v, at.isEmpty ? key : at + "/" + key)
                }
            case .ext:
                let a = try array(n, path: path + " at " + location)
                out[at] = Tensor(shape: a.shape, scalars: a.values.map { T($0) })
            case .nil_:
                break
            default:
                throw CheckpointError.malformed(file: path, reason: "'\(location)' holds \(n.kindName), where a tree of arrays "
                                                + "(nested maps with ndarray leaves) belongs")
            }
        }
        try walk(node, "")
        return out
    }
}

extension TrainState {
    /// The same state with every tree in `reference`'s path order (Flax writes keys
    /// sorted), after checking that paths and shapes match: a checkpoint of another
    /// model is refused, naming the first difference.
    public func aligned(params reference: TensorTree<T>, batchStats statsReference: TensorTree<T>, source: String) throws -> TrainState {
        func align(_ tree: TensorTree<T>, _ ref: TensorTree<T>, _ what: String) throws -> TensorTree<T> {
            if let missing = ref.paths.first(where: { tree[$0] == nil }) {
                throw CheckpointError.modelMismatch(file: source, reason: "\(what) has no '\(missing)' (a checkpoint of another model?)")
            }
            if let extra = tree.paths.first(where: { ref[$0] == nil }) {
                throw CheckpointError.modelMismatch(file: source, reason: "\(what) has '\(extra)', which this model lacks")
            }
            return try ref.map { p, r in
                let t = tree[p]!
                guard t.shape == r.shape else { throw CheckpointError.modelMismatch(file: source, reason: "\(what) '\(p)' has shape \(t.shape), the model needs \(r.shape)") }
                return t
            }
        }
        var s = self
        s.params = try align(params, reference, "params")
        s.trace = try align(trace, reference, "opt_state trace")
        s.batchStats = try align(batchStats, statsReference, "batch_stats")
        if let m = mask { s.mask = try align(m, reference, "mask") }
        return s
    }
}

/// A checkpoint that cannot be read or written, or that belongs to another model.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file is not a checkpoint this reader understands.
    case malformed(file: String, reason: String)
    /// The file is a checkpoint, but of another model (paths or shapes differ).
    case modelMismatch(file: String, reason: String)
    /// The file system refused a read or write.
    case io(file: String, reason: String)

    /// The file, then what is wrong with it.
    public var description: String {
        switch self {
        case let .malformed(file, reason), let .modelMismatch(file, reason), let .io(file, reason): return "\(file): \(reason)"
        }
    }
}
