/// The loop shape of BatchNorm's passes over x [M, C] (channels innermost): rows in
/// tiles, and within a tile eight channels at a time, rows innermost. A block's
/// per-channel constants and running sums then stay in registers while the rows go
/// by. (Summing channel by channel in the inner loop instead made every row a load,
/// add and store of each channel's sum: with 8 or 16 channels, the whole ResNet18
/// nf 8 width, that store-to-load chain was most of the pass.)
///
/// Every channel's sum still runs over its rows in increasing order, from the value
/// in the accumulator: the same additions in the same order as one row at a time.
extension BatchNormOp {
    /// Rows per tile: 64 rows of up to 128 channels stay in L1 while the blocks pass over them.
    static let rowTile = 64

    /// From this many channels on, the element-wise passes (y, dx: no sums to keep in
    /// registers) go row by row, which the compiler vectorises along the channels with
    /// full-width vectors; tiles of eight lanes were slower there (ResNet50's widest
    /// BatchNorms). Either order gives the same bits: each element is its own formula.
    static let rowWiseChannels = 32

    /// Calls `block(tile, j0)` for every tile of at most `rowTile` consecutive rows of
    /// `rows`, in order, and each whole block of eight channels `j0 ..< j0 + 8`; then
    /// `single(tile, j)` for each channel past the last whole block.
    @inline(__always)
    static func forEachTile(_ rows: Range<Int>, channels c: Int,
                            block: (_ tile: Range<Int>, _ j0: Int) -> Void,
                            single: (_ tile: Range<Int>, _ j: Int) -> Void) {
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let tile = r0..<min(rows.upperBound, r0 &+ rowTile)
            var j0 = 0
            while j0 &+ 8 <= c { block(tile, j0); j0 &+= 8 }
            while j0 < c { single(tile, j0); j0 &+= 1 }
            r0 = tile.upperBound
        }
    }
}
