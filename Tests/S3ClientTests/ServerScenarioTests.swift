import Testing

/// The scenarios every real server must pass the same way, once a server: moto always, radosgw
/// where it is expected (TestServers.radosgwExpected; elsewhere its cases are not run, as
/// RadosgwTests are skipped). What only one server does stays in MotoTests or RadosgwTests.
@Suite struct ServerScenarioTests {
    enum Server: String, CustomTestStringConvertible {
        case moto, radosgw
        var testDescription: String { rawValue }

        static var expected: [Server] { TestServers.radosgwExpected ? [.moto, .radosgw] : [.moto] }

        func scenarios() throws -> Scenarios {
            Scenarios(server: try (self == .moto ? TestServers.moto : TestServers.radosgw).get())
        }
    }

    @Test(arguments: Server.expected)
    func singlePutReadBackAndDelete(_ server: Server) throws {
        try server.scenarios().uploadReadBackDelete(size: 3 * 1024 * 1024 + 17, expectParts: 0)
    }

    @Test(arguments: Server.expected)
    func multipartReadBackAndDelete(_ server: Server) throws {
        try server.scenarios().uploadReadBackDelete(size: 12 * 1024 * 1024, expectParts: 3)
    }

    @Test(arguments: Server.expected)
    func agentGetIsDenied(_ server: Server) throws { try server.scenarios().agentCannotRead() }

    @Test("metadata and Content-Type of a single PUT come back from HEAD, GET and LIST", arguments: Server.expected)
    func metadataSinglePut(_ server: Server) throws {
        try server.scenarios().metadataRoundTrip(size: 1_000_003, expectParts: 0)
    }

    @Test(
        "metadata and Content-Type of a multipart upload come back from HEAD, GET and LIST", arguments: Server.expected)
    func metadataMultipart(_ server: Server) throws {
        try server.scenarios().metadataRoundTrip(size: 11 * 1024 * 1024, expectParts: 3)
    }

    @Test("a listing follows continuation tokens and returns every key exactly as stored", arguments: Server.expected)
    func listing(_ server: Server) throws { try server.scenarios().listingFollowsContinuationTokens() }

    @Test("the agent may not HEAD or LIST: the errors name s3:GetObject and s3:ListBucket", arguments: Server.expected)
    func agentHeadAndListAreDenied(_ server: Server) throws { try server.scenarios().agentCannotHeadOrList() }

    @Test("metadata a store would change is refused before anything is sent", arguments: Server.expected)
    func unusableMetadata(_ server: Server) throws { try server.scenarios().unusableMetadataIsRefused() }

    @Test(arguments: Server.expected)
    func wrongSecretKey(_ server: Server) throws { try server.scenarios().wrongSecret() }

    @Test(arguments: Server.expected)
    func missingBucket(_ server: Server) throws { try server.scenarios().missingBucket() }
}
