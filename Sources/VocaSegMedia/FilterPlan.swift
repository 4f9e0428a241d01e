import CFFmpeg

/// What to do with HDR input (PQ / HDR10, HLG): tone-map it to SDR BT.709, or pass its code values on unchanged.
public enum HDRHandling: String, Sendable, CaseIterable {
    case tonemap, off
}

/// When to deinterlace: `auto` deinterlaces the frames the decoder flags as interlaced in a stream whose field order
/// says interlaced, `on` every frame (for streams flagged progressive that are not), `off` never.
public enum DeinterlaceMode: String, Sendable, CaseIterable {
    case auto, on, off
}

/// The libavfilter chain one stream needs before RGB conversion, or none. Decided from the stream's colour tags and
/// field order (and the first frame's interlace flag), never from the pixels. Progressive SDR input gets no chain,
/// so it never enters a filter graph.
public struct FilterPlan: Equatable, Sendable {
    /// Deinterlacing with bwdif in send-frame mode: one frame out per frame in, timestamps kept.
    public var deinterlace: Bool
    /// bwdif's `deint`: only frames flagged interlaced (auto), or all (on).
    public var deinterlaceAll: Bool
    /// The transfer to tone-map from (`smpte2084` or `arib-std-b67`), nil when no tone mapping.
    public var toneMapFrom: String?

    /// The filter graph description (FFmpeg's syntax), nil when nothing needs doing.
    /// Tone mapping follows the usual libavfilter recipe: linearise with zscale (nominal peak 100 cd/m², so SDR
    /// white is 1.0), convert primaries to BT.709 in linear float RGB, compress with Hable's curve (the peak comes
    /// from the frame's content-light or mastering metadata, else the transfer's nominal peak), then apply the
    /// BT.709 transfer into 8-bit planar RGB (no chroma subsampling before our RGB conversion).
    public var graphDescription: String? {
        var parts: [String] = []
        if deinterlace { parts.append("bwdif=mode=send_frame:parity=auto:deint=\(deinterlaceAll ? "all" : "interlaced")") }
        if toneMapFrom != nil {
            parts.append("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,"
                         + "zscale=t=bt709:m=bt709:r=pc,format=gbrp")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ",")
    }

    /// What a notice line tells the user.
    public var summary: String? {
        var parts: [String] = []
        if deinterlace { parts.append(deinterlaceAll ? "deinterlacing every frame (bwdif)" : "deinterlacing interlaced frames (bwdif)") }
        if let from = toneMapFrom {
            parts.append("tone-mapping \(from == "smpte2084" ? "HDR PQ" : "HDR HLG") to SDR BT.709 (zscale + tonemap hable)")
        }
        return parts.isEmpty ? nil : parts.joined(separator: ", ")
    }

    public init(deinterlace: Bool = false, deinterlaceAll: Bool = false, toneMapFrom: String? = nil) {
        self.deinterlace = deinterlace
        self.deinterlaceAll = deinterlaceAll
        self.toneMapFrom = toneMapFrom
    }

    /// The plan for a stream with these tags. `fieldOrderInterlaced`: the stream's field order is tt/bb/tb/bt;
    /// `firstFrameInterlaced`: the decoder flagged the first frame interlaced (some containers leave the field order
    /// unknown).
    public static func decide(transfer: AVColorTransferCharacteristic, fieldOrderInterlaced: Bool,
                              firstFrameInterlaced: Bool, hdr: HDRHandling, deinterlace: DeinterlaceMode) -> FilterPlan {
        var plan = FilterPlan()
        switch deinterlace {
        case .on: plan.deinterlace = true; plan.deinterlaceAll = true
        case .auto: plan.deinterlace = fieldOrderInterlaced || firstFrameInterlaced
        case .off: break
        }
        if hdr == .tonemap {
            if transfer == AVCOL_TRC_SMPTE2084 { plan.toneMapFrom = "smpte2084" }
            if transfer == AVCOL_TRC_ARIB_STD_B67 { plan.toneMapFrom = "arib-std-b67" }
        }
        return plan
    }

    static func isInterlaced(_ order: AVFieldOrder) -> Bool {
        order == AV_FIELD_TT || order == AV_FIELD_BB || order == AV_FIELD_TB || order == AV_FIELD_BT
    }
}
