// The dashboard's script: the operator's passkey ceremonies (sign-in and enrollment).
// Everything else on /admin is plain forms.
"use strict";

const page = JSON.parse(document.getElementById("kt-page").textContent);
// The WebAuthn JSON helpers (creationOptions, requestOptions, credentialJSON) are webauthn.js's.

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
