export { SCOPES, KeyStore, createApiKey, revokeApiKey, listApiKeys } from './keys.js';
export type { Scope, Principal, CreatedKey, KeyInfo } from './keys.js';
export { apiKeyAuthenticator, fixedTenant } from './authenticator.js';
export type { Authenticator } from './authenticator.js';
export { AuthError, AuthErrorCode } from './errors.js';
