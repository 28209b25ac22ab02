// The token audiences of Microsoft's two services, in a module of their own so
// that a client can name them without loading the identity library.
// The admin API's audience is `https://service.powerapps.com/`, trailing slash included (the module's
// RestClientModule Get-AudienceForHostName for api.bap.microsoft.com); `.default` after it gives the
// double slash that Microsoft's programmability-authentication page writes.
export const POWER_PLATFORM_SCOPE = 'https://service.powerapps.com//.default';
export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';
