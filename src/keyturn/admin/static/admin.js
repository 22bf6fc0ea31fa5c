// The dashboard's one script: the operator's passkey ceremonies (sign-in and enrollment).
// Everything else on /admin is plain forms.
"use strict";

const page = JSON.parse(document.getElementById("kt-page").textContent);
const b64urlToBuffer = (value) => {
  const base64 = value.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)).buffer;
};
const bufferToB64url = (buffer) =>
  btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const withIds = (list) => (list || []).map((c) => ({ ...c, id: b64urlToBuffer(c.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: b64urlToBuffer(json.challenge), user: { ...json.user, id: b64urlToBuffer(json.user.id) },
           excludeCredentials: withIds(json.excludeCredentials) };
}
function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: b64urlToBuffer(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}
function credentialJSON(credential) {
  try { if (typeof credential.toJSON === "function") return credential.toJSON(); } catch (_) { /* fall back */ }
  const r = credential.response;
  const response = { clientDataJSON: bufferToB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = bufferToB64url(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = bufferToB64url(r.authenticatorData);
    response.signature = bufferToB64url(r.signature);
    if (r.userHandle) response.userHandle = bufferToB64url(r.userHandle);
  }
  return { id: credential.id, rawId: bufferToB64url(credential.rawId), type: credential.type, response,
           clientExtensionResults: credential.getClientExtensionResults() };
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": page.csrf },
    body: JSON.stringify({ flow: page.flow, ...body }),
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) {
    const error = new Error(data.error_description || "Something went wrong. Please try again.");
    error.code = data.error;
    throw error;
  }
  return data;
}

const errorBox = document.getElementById("kt-error");
function showError(error) {
  let message = error.message;
  if (!error.code) {
    if (error.name === "NotAllowedError") message = "The passkey request was cancelled or timed out.";
    else if (error.name === "InvalidStateError") message = "This authenticator is already registered.";
    else message = "Your browser could not use a passkey. Please try again.";
  }
  errorBox.textContent = message; errorBox.hidden = false;
}

const button = document.getElementById("admin-passkey");
const ceremony = document.querySelector("[data-ceremony]");
if (button && ceremony) {
  button.addEventListener("click", async () => {
    errorBox.hidden = true; button.disabled = true;
    try {
      let result;
      if (ceremony.dataset.ceremony === "enroll") {
        const options = await post("/admin/enroll/options", { token: page.token });
        const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
        result = await post("/admin/enroll", { token: page.token, credential: credentialJSON(credential) });
      } else {
        const options = await post("/admin/login/options");
        const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
        result = await post("/admin/login", { credential: credentialJSON(credential) });
      }
      window.location.assign(result.next);
    } catch (error) {
      showError(error);
      button.disabled = false;
    }
  });
}
