import Foundation
import NIOSSL
import PostgresNIO
import VocaSegCore

/// Where the shared queue lives: a `postgres://` URL completed the way libpq completes it, so that the settings a
/// PostgreSQL user already has (PG* variables, `~/.pgpass`) work unchanged.
///
/// - URL: `postgres[ql]://[user[:password]@][host][:port][/database][?sslmode=…&host=/socket/dir]`. A host that is
///   a directory (in the authority, percent-encoded, or as `?host=`) means the Unix socket
///   `DIR/.s.PGSQL.PORT`.
/// - Missing parts come from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`; then the
///   password from `PGPASSFILE` or `~/.pgpass` (ignored, as libpq does, when others can read it).
/// - `sslmode`: `disable`, `prefer` (default), `require` (encrypted, certificate not checked, as libpq), or
///   `verify-full` (certificate and host name checked against the system roots or `sslrootcert`).
///
/// The password never appears in `description`, which is what logs and `jobs` print.
public struct QueueAddress: Sendable, CustomStringConvertible {
    public enum TLSMode: String, Sendable { case disable, prefer, require, verifyFull = "verify-full" }

    public var host: String
    public var port: Int
    /// Set when `host` is a socket directory.
    public var socketPath: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    public var rootCertificate: String?

    public var description: String {
        if socketPath != nil { return "postgres://\(user)@/\(database)?host=\(host)&port=\(port)" }
        return "postgres://\(user)@\(host):\(port)/\(database)"
    }

    /// Parses `url`, completing it from `environment` and the password file.
    public static func parse(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws -> QueueAddress
    {
        func bad(_ why: String) -> VocaSegError {
            // The URL is not echoed: it may hold a password.
            VocaSegError(.usage, "--queue: \(why) (expected postgres://[user[:password]@]host[:port]/database)")
        }
        guard let components = URLComponents(string: url),
              let scheme = components.scheme, scheme == "postgres" || scheme == "postgresql" else {
            throw bad("not a postgres:// URL")
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        let known: Set<String> = ["sslmode", "host", "port", "user", "password", "dbname", "sslrootcert",
                                  "application_name", "connect_timeout"]
        if let unknown = query.keys.first(where: { !known.contains($0) }) { throw bad("unknown parameter \(unknown)") }

        var host = query["host"] ?? components.percentEncodedHost.flatMap { $0.removingPercentEncoding } ?? ""
        if host.isEmpty { host = environment["PGHOST"] ?? "localhost" }
        var port = components.port ?? 0
        if let p = query["port"] ?? (port == 0 ? environment["PGPORT"] : nil) {
            guard let value = Int(p), (1...65535).contains(value) else { throw bad("port \(p) is not a port number") }
            port = value
        }
        if port == 0 { port = 5432 }
        var user = query["user"] ?? components.user?.removingPercentEncoding ?? ""
        if user.isEmpty { user = environment["PGUSER"] ?? environment["USER"] ?? NSUserName() }
        var database = String(components.path.drop { $0 == "/" }).removingPercentEncoding ?? ""
        if let d = query["dbname"] { database = d }
        if database.isEmpty { database = environment["PGDATABASE"] ?? user }
        let modeText = query["sslmode"] ?? environment["PGSSLMODE"] ?? "prefer"
        let mode: TLSMode
        switch modeText {
        case "disable", "allow": mode = .disable
        case "prefer": mode = .prefer
        case "require", "verify-ca": mode = .require
        case "verify-full": mode = .verifyFull
        default: throw bad("sslmode \(modeText) is not one of disable, prefer, require, verify-full")
        }
        var address = QueueAddress(host: host, port: port, socketPath: nil, user: user, password: nil,
                                   database: database, tls: mode, rootCertificate: query["sslrootcert"])
        if host.hasPrefix("/") {
            address.socketPath = (host as NSString).appendingPathComponent(".s.PGSQL.\(port)")
        }
        address.password = query["password"] ?? components.password?.removingPercentEncoding
            ?? environment["PGPASSWORD"] ?? Self.passwordFromFile(for: address, environment: environment)
        return address
    }

    /// libpq's password file: `host:port:database:user:password` lines, `*` matching anything, `\:` and `\\`
    /// escaped; the first matching line wins; a Unix socket matches the host name `localhost`.
    static func passwordFromFile(for address: QueueAddress, environment: [String: String]) -> String? {
        let path = environment["PGPASSFILE"]
            ?? (environment["HOME"].map { ($0 as NSString).appendingPathComponent(".pgpass") })
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        // A password file others can read is a leak waiting to happen; libpq refuses it, and so do we.
        var st = stat()
        guard stat(path, &st) == 0, st.st_mode & 0o077 == 0 else { return nil }
        let host = address.socketPath != nil ? "localhost" : address.host
        for line in text.split(whereSeparator: \.isNewline) where !line.hasPrefix("#") {
            let fields = splitPasswordLine(String(line))
            guard fields.count == 5 else { continue }
            let wanted = [host, String(address.port), address.database, address.user]
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    static func splitPasswordLine(_ line: String) -> [String] {
        var fields: [String] = [], current = "", escaped = false
        for c in line {
            if escaped { current.append(c); escaped = false }
            else if c == "\\" { escaped = true }
            else if c == ":" && fields.count < 4 { fields.append(current); current = "" }
            else { current.append(c) }
        }
        fields.append(current)
        return fields
    }

    /// The postgres-nio client configuration for this address, named `applicationName` on the server
    /// (`pg_stat_activity`), so that an operator can see, and cut, each worker's connections.
    func clientConfiguration(applicationName: String) throws -> PostgresClient.Configuration {
        var configuration: PostgresClient.Configuration
        if let socketPath {
            configuration = .init(unixSocketPath: socketPath, username: user, password: password, database: database)
        } else {
            var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
            let tlsSetting: PostgresClient.Configuration.TLS
            switch tls {
            case .disable: tlsSetting = .disable
            case .prefer:
                tlsConfiguration.certificateVerification = .none
                tlsSetting = .prefer(tlsConfiguration)
            case .require:
                tlsConfiguration.certificateVerification = .none
                tlsSetting = .require(tlsConfiguration)
            case .verifyFull:
                if let rootCertificate {
                    tlsConfiguration.trustRoots = .file(rootCertificate)
                }
                tlsSetting = .require(tlsConfiguration)
            }
            configuration = .init(host: host, port: port, username: user, password: password, database: database,
                                  tls: tlsSetting)
        }
        configuration.options.additionalStartupParameters = [("application_name", applicationName)]
        configuration.options.connectTimeout = .seconds(10)
        // A worker runs a few short statements at a time; a small pool is plenty and kind to the server.
        configuration.options.maximumConnections = 4
        return configuration
    }
}
