import Testing
import VocaSegTensor

/// The entry checks of the ops stay in the `-Ounchecked` release build (where `precondition` is compiled out):
/// a wrong shape stops the process with a message instead of letting a kernel read or write out of bounds. CI runs
/// this suite in debug and in release.
@Suite struct OpCheckTests {
    @Test func mismatchedMatmulStopsTheProcess() async {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
            let b = Tensor(shape: [4, 2], data: [Float](repeating: 1, count: 8))
            _ = Ops.matmul(a, b)
        }
        #expect(Self.stderr(exit).contains("matmul: inner dimensions"))
    }

    @Test func convolutionWithTheWrongInputChannelsStopsTheProcess() async {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let x = Tensor(shape: [1, 3, 8, 8], data: [Float](repeating: 0, count: 192))
            let w = Tensor(shape: [4, 2, 3, 3], data: [Float](repeating: 0, count: 72))
            _ = Ops.conv2d(x, weight: w, bias: nil, padding: 1)
        }
        #expect(Self.stderr(exit).contains("conv2d:"))
    }

    @Test func sgemmWithTooSmallALeadingDimensionStopsTheProcess() async {
        let exit = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let a = [Float](repeating: 1, count: 12), b = [Float](repeating: 1, count: 12)
            var c = [Float](repeating: 0, count: 9)
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        // k = 4 but lda = 2: the rows of A would overlap and run past its end.
                        BLAS.sgemm(m: 3, n: 3, k: 4, a: pa.baseAddress!, lda: 2, b: pb.baseAddress!, ldb: 3,
                                   c: pc.baseAddress!, ldc: 3)
                    }
                }
            }
        }
        #expect(Self.stderr(exit).contains("sgemm: leading dimensions"))
    }

    static func stderr(_ exit: ExitTest.Result?) -> String {
        String(decoding: exit?.standardErrorContent ?? [], as: UTF8.self)
    }

    /// The same ops with consistent shapes run normally (so the checks above fail for the shapes, not always).
    @Test func consistentShapesPass() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])
        let b = Tensor(shape: [3, 1], data: [1, 1, 1])
        #expect(Ops.matmul(a, b).toArray() == [6, 15])
    }
}
