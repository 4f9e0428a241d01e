import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import VocaSegCore
import VocaSegPipeline

/// Prometheus metrics of a watcher or worker (`--metrics HOST:PORT`), served as text at any path (`/metrics` by
/// convention):
/// - `vocaseg_queue_jobs{state}`: jobs per state in the whole queue, refreshed at each heartbeat;
/// - `vocaseg_jobs_done_total`, `vocaseg_job_failures_total`, `vocaseg_frames_total`: this process's work;
/// - `vocaseg_frames_per_second`: the last finished job's frames over its processing time;
/// - `vocaseg_stage_milliseconds{stage}`: per-frame median latency of each pipeline stage, one observation per job;
/// - `vocaseg_lease_renewals_total`, `vocaseg_lease_losses_total`: heartbeats that extended a lease, leases found
///   taken over.
public final class FarmMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let jobsDone: Counter
    let jobFailures: Counter
    let frames: Counter
    let leaseRenewals: Counter
    let leaseLosses: Counter
    let framesPerSecond: Gauge
    private let lock = NSLock()
    private var stateGauges: [String: Gauge] = [:]
    private var stageHistograms: [String: ValueHistogram] = [:]

    public init() {
        jobsDone = registry.makeCounter(descriptor: Self.name("jobs_done", "total", "Jobs this process finished"))
        jobFailures = registry.makeCounter(descriptor: Self.name(
            "job_failures", "total", "Failed attempts of this process's jobs, including lost leases"))
        frames = registry.makeCounter(descriptor: Self.name("frames", "total", "Frames of this process's finished jobs"))
        leaseRenewals = registry.makeCounter(descriptor: Self.name("lease_renewals", "total", "Leases extended by heartbeats"))
        leaseLosses = registry.makeCounter(descriptor: Self.name(
            "lease_losses", "total", "Leases found taken over (the job was stopped unpublished)"))
        framesPerSecond = registry.makeGauge(descriptor: Self.name(
            "frames_per_second", "", "Frames per second of processing of the last finished job"))
        for state in QueueReport.states {
            stateGauges[state] = registry.makeGauge(descriptor: Self.name("queue_jobs", "", "Jobs in the queue per state"),
                                                    labels: [("state", state)])
        }
    }

    private static func name(_ metric: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "vocaseg", metricName: metric, unitName: unit, helpText: help)
    }

    func setStateCounts(_ counts: [String: Int]) {
        lock.lock()
        defer { lock.unlock() }
        for state in QueueReport.states { stateGauges[state]?.set(Double(counts[state] ?? 0)) }
    }

    func jobFinished(frames n: Int, seconds: Double, timings: [StageTiming]) {
        jobsDone.increment()
        frames.increment(by: Int64(n))
        if seconds > 0 { framesPerSecond.set(Double(n) / seconds) }
        lock.lock()
        defer { lock.unlock() }
        for t in timings {
            let histogram = stageHistograms[t.stage] ?? registry.makeValueHistogram(
                descriptor: Self.name("stage", "milliseconds",
                                      "Per-frame median latency of each pipeline stage, one observation per job"),
                labels: [("stage", t.stage)],
                buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000])
            stageHistograms[t.stage] = histogram
            histogram.record(t.p50Milliseconds)
        }
    }

    public func text() -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Serves the metrics on `hostPort` (e.g. `127.0.0.1:9464`) until `stop`. Returns the bound port (useful with
    /// port 0).
    public func serve(_ hostPort: String) throws -> MetricsServer {
        guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]),
              (0...65535).contains(port) else {
            throw VocaSegError(.usage, "--metrics wants HOST:PORT, e.g. 127.0.0.1:9464", path: hostPort)
        }
        let host = String(hostPort[..<colon])
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(metrics: self))
                }
            }
        do {
            let channel = try bootstrap.bind(host: host.isEmpty ? "127.0.0.1" : host, port: port).wait()
            return MetricsServer(channel: channel, group: group)
        } catch {
            try? group.syncShutdownGracefully()
            throw VocaSegError(.usage, "cannot serve metrics: \(error)", path: hostPort)
        }
    }
}

public final class MetricsServer: @unchecked Sendable {
    let channel: any Channel
    let group: MultiThreadedEventLoopGroup
    public var port: Int { channel.localAddress?.port ?? 0 }

    init(channel: any Channel, group: MultiThreadedEventLoopGroup) {
        self.channel = channel
        self.group = group
    }

    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Answers every request with the metrics text (HTTP/1.1, then closes the connection).
private final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let metrics: FarmMetrics

    init(metrics: FarmMetrics) { self.metrics = metrics }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        let body = metrics.text()
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count)
        buffer.writeString(body)
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        headers.add(name: "Content-Length", value: "\(buffer.readableBytes)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))),
                      promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
