// oidc-provider ships no types; the test uses a few of its calls.
declare module "oidc-provider";
