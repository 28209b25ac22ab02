// The token audiences of Microsoft's two services, in a module of their own so
// that a client can name them without loading the identity library.
export const POWER_PLATFORM_SCOPE = 'https://service.powerapps.com/.default';
export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
