// Loaded before anything that loads grpc-js, which reads its log level once.
// The time-skipping test server answers the client's keepalive pings with
// "too many pings"; grpc-js then slows its pings and logs that as an error
// line. Nothing fails: calls that fail still fail with their own error.
process.env.GRPC_NODE_VERBOSITY ??= 'NONE';
