// Production sign-in: the Cognito hosted UI with the authorization-code flow and PKCE. The deploy
// writes config.json as {"auth": "cognito", "domain": "<hosted UI domain>", "client_id": "…"}
// (docs/deploy.md); locally it is {"auth": "local"} and the stack's links carry a token.

const VERIFIER = "license-usage-pkce";

function base64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export async function loadConfig() {
  try {
    const answer = await fetch("config.json", { cache: "no-store" });
    return answer.ok ? await answer.json() : { auth: "local" };
  } catch {
    return { auth: "local" };
  }
}

function redirectUri() {
  return `${location.origin}/`;
}

export async function signIn(config) {
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(VERIFIER, JSON.stringify({ verifier, state }));
  const query = new URLSearchParams({
    response_type: "code",
    client_id: config.client_id,
    redirect_uri: redirectUri(),
    scope: "openid email",
    code_challenge_method: "S256",
    code_challenge: challenge,
    state,
  });
  location.assign(`https://${config.domain}/oauth2/authorize?${query}`);
}

// Back from the hosted UI with ?code=…&state=…: trade the code for tokens; returns the ID token.
export async function finishSignIn(config) {
  const query = new URLSearchParams(location.search);
  const code = query.get("code");
  if (!code) return null;
  const saved = JSON.parse(sessionStorage.getItem(VERIFIER) || "{}");
  sessionStorage.removeItem(VERIFIER);
  history.replaceState(null, "", location.pathname + location.hash);
  if (!saved.verifier || saved.state !== query.get("state")) return null;
  const answer = await fetch(`https://${config.domain}/oauth2/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      client_id: config.client_id,
      code,
      redirect_uri: redirectUri(),
      code_verifier: saved.verifier,
    }),
  });
  if (!answer.ok) return null;
  return (await answer.json()).id_token || null;
}
