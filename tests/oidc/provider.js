// A real OpenID provider (the certified `oidc-provider` package) for warroom's sign-in tests.
// Everything comes from the environment: PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI,
// POST_LOGOUT_URI, JWKS (the signing keys, private, as a JSON key set) and USERS (JSON:
// {"name": {"email": "...", "groups": ["..."]}}). Login at the dev interaction page: any
// password, the login is the user's name. Prints "listening <issuer>" once it listens.
import Provider from "oidc-provider";

const env = process.env;
const users = JSON.parse(env.USERS);
const issuer = `http://127.0.0.1:${env.PORT}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: env.CLIENT_ID,
      client_secret: env.CLIENT_SECRET,
      redirect_uris: [env.REDIRECT_URI],
      post_logout_redirect_uris: [env.POST_LOGOUT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  jwks: JSON.parse(env.JWKS),
  scopes: ["openid", "profile", "email", "groups", "offline_access"],
  claims: {
    openid: ["sub"],
    profile: ["preferred_username", "name"],
    email: ["email"],
    groups: ["groups"],
  },
  // Scope-derived claims in the ID token too (warroom reads the name and groups there).
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(ctx, id) {
    const user = users[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, email: user.email, groups: user.groups };
      },
    };
  },
});
provider.proxy = false;
const server = provider.listen(Number(env.PORT), "127.0.0.1", () => {
  console.log(`listening ${issuer}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
