// Keyturn's hosted pages: WebAuthn ceremonies, conditional UI and the Signal API.
// No build step; the WebAuthn JSON helpers come from webauthn.js, loaded before this file.
"use strict";

const page = JSON.parse(document.getElementById("kt-page").textContent);
// Every text the script shows comes translated from the page (templates/_texts.html).
const texts = JSON.parse(document.getElementById("kt-texts").textContent);

// --- talking to Keyturn --------------------------------------------------------------
async function post(url, body, csrf) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || page.csrf },
    body: JSON.stringify(body || {}),
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* empty body */ }
  if (!response.ok) {
    const error = new Error(data.error_description || texts.generic_error);
    error.code = data.error; error.data = data;
    throw error;
  }
  return data;
}

const errorBox = document.getElementById("kt-error");
const statusBox = document.getElementById("kt-status");
function showError(message) {
  if (statusBox) statusBox.hidden = true;
  errorBox.textContent = message; errorBox.hidden = false;
}
function showStatus(message) {
  errorBox.hidden = true;
  statusBox.textContent = message; statusBox.hidden = false;
}
function clearMessages() {
  errorBox.hidden = true; if (statusBox) statusBox.hidden = true;
  for (const slot of document.querySelectorAll(".field-error")) {
    slot.hidden = true; slot.textContent = "";
    const field = slot.closest("[data-trait]");
    if (field) { field.classList.remove("invalid"); field.querySelector("input, select").removeAttribute("aria-invalid"); }
  }
}

// The identity schema's fields (web/templates/_traits.html): their values, and Keyturn's
// messages by field (`fields` of an invalid_traits answer) shown under each.
function traitValues() {
  const values = {};
  for (const field of document.querySelectorAll("[data-trait]")) {
    const input = field.querySelector("input, select");
    values[field.dataset.trait] = input.type === "checkbox" ? input.checked : input.value;
  }
  return values;
}
function showFieldErrors(error) {
  const fields = (error.data && error.data.fields) || {};
  let first = null;
  for (const [name, message] of Object.entries(fields)) {
    const slot = document.getElementById(`trait-${name}-error`);
    if (!slot) continue;
    slot.textContent = message; slot.hidden = false;
    const field = slot.closest("[data-trait]");
    field.classList.add("invalid");
    const input = field.querySelector("input, select");
    input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  if (first) first.focus();
  return first !== null;
}

// Browser-side failures of navigator.credentials.*, in words a person can act on.
function ceremonyMessage(error) {
  if (error.code) return error.message;  // Keyturn's own answer
  if (error.name === "NotAllowedError") return texts.passkey_cancelled;
  if (error.name === "InvalidStateError") return texts.passkey_exists;
  if (error.name === "SecurityError") return texts.passkey_insecure;
  return texts.passkey_unsupported;
}

// WebAuthn Signal API: keep the browser's passkey list true, where the browser has it.
async function signal(method, args) {
  if (typeof PublicKeyCredential === "undefined" || typeof PublicKeyCredential[method] !== "function") return;
  try { await PublicKeyCredential[method](args); } catch (_) { /* best effort */ }
}
function handleCeremonyError(error) {
  if (error.code === "unknown_credential" && error.data) {
    signal("signalUnknownCredential", { rpId: error.data.rp_id, credentialId: error.data.credential_id });
  }
  // A client (or the tenant) accepting only device-bound passkeys: offer to add one.
  const offer = document.getElementById("add-device-bound");
  if (offer) offer.hidden = error.code !== "synced_passkey_not_allowed";
  showError(ceremonyMessage(error));
}

// --- captcha: on the password step only (a passkey is never asked) --------------------
// The provider's script is loaded only when a password is about to be sent. Each provider
// renders into the slot and puts its token in its documented form field (cf-turnstile-response,
// h-captcha-response, g-recaptcha-response); reCAPTCHA v3 has no widget and is executed per send.
function captchaWidget() {
  const config = page.captcha;
  const slot = document.getElementById("kt-captcha");
  if (!config || !slot) return null;
  const api = () => (config.provider === "turnstile" ? window.turnstile
    : config.provider === "hcaptcha" ? window.hcaptcha : window.grecaptcha);
  let shown = null;  // a Promise of the widget id, once asked for
  function load() {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.id = "kt-captcha-script"; script.src = config.script; script.async = true;
      script.onload = () => resolve();
      script.onerror = () => reject(Object.assign(
        new Error(texts.captcha_unavailable),
        { code: "captcha_unavailable" }));
      document.head.append(script);
    });
  }
  function show() {
    if (!shown) {
      shown = (async () => {
        slot.hidden = false;
        await load();
        if (config.provider === "recaptcha") await new Promise((ready) => window.grecaptcha.ready(ready));
        if (config.v3) return null;
        const options = { sitekey: config.site_key };
        if (config.provider === "turnstile") options.action = config.action;
        return api().render(slot, options);
      })();
      shown.catch(() => { shown = null; });
    }
    return shown;
  }
  async function token() {
    if (!shown) return undefined;
    await shown;
    if (config.v3) return window.grecaptcha.execute(config.site_key, { action: config.action });
    const field = slot.querySelector(`[name="${config.field}"]`);
    return field && field.value ? field.value : undefined;
  }
  function reset() {  // a token is good once: a new one for the next try
    if (shown && !config.v3) shown.then((id) => { try { api().reset(id); } catch (_) { /* gone */ } });
  }
  return { show, token, reset };
}

// Send a password submission with the captcha token when one is shown; when the server asks
// for one (after failures from this address), show the widget and say so.
async function postWithCaptcha(captcha, url, body) {
  if (captcha) {
    const token = await captcha.token();
    if (token) body = { ...body, captcha: token };
  }
  try {
    return await post(url, body);
  } catch (error) {
    if (captcha) {
      if (error.code === "captcha_required") captcha.show().catch(() => {}); else captcha.reset();
    }
    throw error;
  }
}

const supportsPasskeys = () => typeof window.PublicKeyCredential !== "undefined";
const go = (url) => { window.location.assign(url); };

// Whether a passkey can be created on this device (a platform authenticator): what the
// passkey offers after a sign-in need. Told to the server with the sign-in.
async function canCreatePasskey() {
  if (!supportsPasskeys()) return false;
  try {
    if (typeof PublicKeyCredential.getClientCapabilities === "function") {
      const caps = await PublicKeyCredential.getClientCapabilities();
      if (caps.passkeyPlatformAuthenticator || caps.userVerifyingPlatformAuthenticator) return true;
    }
    if (typeof PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable === "function") {
      return await PublicKeyCredential.isUserVerifyingPlatformAuthenticatorAvailable();
    }
  } catch (_) { /* a browser that cannot say: as if it could not */ }
  return false;
}
async function conditionalCreateAvailable() {
  try {
    if (typeof PublicKeyCredential.getClientCapabilities !== "function") return false;
    return (await PublicKeyCredential.getClientCapabilities()).conditionalCreate === true;
  } catch (_) { return false; }
}

// --- /login ----------------------------------------------------------------------------
function setupLogin() {
  const base = `/login/flows/${page.flow_id}`;
  const form = document.getElementById("login-form");
  const email = document.getElementById("email");
  const passwordField = document.getElementById("password-field");
  const password = document.getElementById("password");
  const continueButton = document.getElementById("continue");
  const passkeyButton = document.getElementById("passkey-button");
  let conditional = null;  // AbortController of the pending autofill request
  let identified = false;
  const captcha = captchaWidget();
  const capable = canCreatePasskey();

  async function finish(credential) {
    const result = await post(base, { method: "passkey", credential: credentialJSON(credential),
                                      can_create_passkey: await capable });
    go(result.redirect_to);
  }

  // Autofill restarts after a ceremony the server refused (so the next passkey can be
  // tried), at most a few times and with a pause; never after the page itself went stale
  // (flow expired, CSRF, another browser) or the network failed, and never in a loop.
  const STALE = new Set(["flow_expired", "flow_browser_mismatch", "csrf_failed", "cross_site_request"]);
  let autofillRestarts = 0;

  async function startAutofill() {
    if (!page.autofill || !supportsPasskeys() || !PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    stopAutofill();
    const controller = new AbortController();
    conditional = controller;
    let options;
    try {
      options = await post(`${base}/passkey/options`);
    } catch (error) {
      if (error.code) handleCeremonyError(error);
      return;  // the page cannot offer autofill now; the button and Continue still work
    }
    try {
      const credential = await navigator.credentials.get({
        publicKey: requestOptions(options), mediation: "conditional", signal: controller.signal });
      if (controller.signal.aborted) return;
      await finish(credential);
    } catch (error) {
      if (controller.signal.aborted || error.name === "AbortError") return;
      conditional = null;
      if (!error.code) return;  // the browser declined the background request: stay quiet
      handleCeremonyError(error);
      if (!STALE.has(error.code) && autofillRestarts < 3) {
        autofillRestarts += 1;
        setTimeout(startAutofill, 1000 * autofillRestarts);
      }
    }
  }
  function stopAutofill() {
    if (conditional) { conditional.abort(); conditional = null; }
  }

  async function modalSignIn(options) {
    stopAutofill();
    try {
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      showStatus(texts.checking_passkey);
      await finish(credential);
    } catch (error) {
      handleCeremonyError(error);
      if (!error.code || !STALE.has(error.code)) startAutofill();
    }
  }

  if (passkeyButton) {
    if (!supportsPasskeys()) passkeyButton.disabled = true;
    passkeyButton.addEventListener("click", async () => {
      clearMessages();
      stopAutofill();
      try {
        await modalSignIn(await post(`${base}/passkey/options`));
      } catch (error) { handleCeremonyError(error); }
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    if (!email.value.trim()) { showError(texts.enter_email); email.focus(); return; }
    try {
      if (identified && !passwordField.hidden && password.value) {
        const result = await postWithCaptcha(captcha, base,
          { method: "password", email: email.value, password: password.value,
            can_create_passkey: await capable });
        go(result.redirect_to);
        return;
      }
      stopAutofill();
      const next = await post(`${base}/identify`, { email: email.value });
      identified = true;
      if (next.unknown_account) { showError(texts.unknown_account); return; }
      if (next.password) {
        passwordField.hidden = false;
        continueButton.textContent = texts.sign_in;
        if (next.captcha && captcha) captcha.show().catch((error) => showError(error.message));
        password.focus();
      }
      if (next.passkey && supportsPasskeys()) {
        await modalSignIn(next.passkey);
        if (next.password && !errorBox.hidden) showError(texts.no_passkey_password);
      }
    } catch (error) { handleCeremonyError(error); }
  });
  email.addEventListener("input", () => {
    if (identified) { identified = false; passwordField.hidden = true; continueButton.textContent = texts.continue; }
  });

  startAutofill();
}

// --- /signup ---------------------------------------------------------------------------
function setupSignup() {
  const base = () => `/signup/flows/${page.flow_id}`;  // a code (before_signup) moves the flow on
  const form = document.getElementById("signup-form");
  const email = document.getElementById("email");
  const passwordField = document.getElementById("password-field");
  const password = document.getElementById("password");
  const usePassword = document.getElementById("use-password");
  const createPasskey = document.getElementById("create-passkey");
  const codeField = document.getElementById("code-field");
  const code = document.getElementById("code");
  let proven = !page.verify_first;
  const captcha = captchaWidget();
  const passwordChosen = () => {  // the password path: show the widget (sign-up asks up front)
    if (captcha && page.captcha.required) captcha.show().catch((error) => showError(error.message));
  };
  if (!page.passkey) passwordChosen();

  // verification.mode=before_signup: the email first, then its code, then the credential.
  async function prove() {
    if (codeField.hidden) {
      const sent = await post(`${base()}/email`, { email: email.value });
      page.flow_id = sent.flow_id; page.csrf = sent.csrf;
      codeField.hidden = false; email.readOnly = true;
      showStatus(texts.code_sent.replace("{email}", email.value));
      code.focus();
      return false;
    }
    const checked = await post(`${base()}/code`, { code: code.value });
    page.flow_id = checked.flow_id; page.csrf = checked.csrf;
    proven = true; codeField.hidden = true;
    showStatus(texts.email_confirmed);
    return true;
  }

  async function signUpWithPassword() {
    const result = await postWithCaptcha(captcha, base(),
      { method: "password", email: email.value, password: password.value, traits: traitValues() });
    go(result.redirect_to);
  }
  async function signUpWithPasskey() {
    const traits = traitValues();
    const options = await post(`${base()}/passkey/options`, { email: email.value, traits });
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    showStatus(texts.saving_passkey);
    const result = await post(base(), { method: "passkey", credential: credentialJSON(credential), traits });
    go(result.redirect_to);
  }

  if (usePassword && usePassword.dataset.reveal) {
    usePassword.addEventListener("click", async () => {
      clearMessages();
      if (passwordField.hidden) {
        passwordField.hidden = false;
        usePassword.textContent = texts.create_with_password;
        usePassword.classList.replace("secondary", "primary");
        passwordChosen();
        password.focus();
        return;
      }
      try {
        if (!proven && !(await prove())) return;
        await signUpWithPassword();
      } catch (error) {
        if (error.code === "invalid_traits" && showFieldErrors(error)) return;
        showError(ceremonyMessage(error));
      }
    });
  }
  if (createPasskey && !supportsPasskeys()) createPasskey.disabled = true;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessages();
    if (!email.value.trim()) { showError(texts.enter_email); email.focus(); return; }
    try {
      if (!proven && !(await prove())) return;
      // Enter in a revealed Password field means "use the password", not "create a passkey".
      if (!page.passkey || !passwordField.hidden) await signUpWithPassword(); else await signUpWithPasskey();
    } catch (error) {
      if (error.code === "invalid_traits" && showFieldErrors(error)) return;
      handleCeremonyError(error);
    }
  });
}

// --- /account --------------------------------------------------------------------------
function setupAccount() {
  if (page.signal_all) {
    signal("signalAllAcceptedCredentials", {
      rpId: page.rp_id, userId: page.user_id, allAcceptedCredentialIds: page.credential_ids });
  }
  if (page.signal_user) {
    signal("signalCurrentUserDetails", { rpId: page.rp_id, userId: page.user_id, name: page.name, displayName: page.name });
  }
  const add = document.getElementById("add-passkey");
  if (!add) return;
  if (!supportsPasskeys()) add.disabled = true;
  add.addEventListener("click", async () => {
    clearMessages();
    try {
      const started = await post("/account/passkeys/options", {}, page.csrf);
      const credential = await navigator.credentials.create({ publicKey: creationOptions(started.options) });
      showStatus(texts.saving_passkey);
      const result = await post("/account/passkeys",
        { flow_id: started.flow_id, credential: credentialJSON(credential) }, started.csrf);
      go(result.redirect_to);
    } catch (error) {
      if (error.code === "reauthentication_required") { go("/account/confirm"); return; }
      handleCeremonyError(error);
    }
  });
  // Back from "Confirm it's you": carry on with the passkey that was being added.
  if (new URLSearchParams(window.location.search).get("resume") === "add_passkey" && !add.disabled) {
    window.history.replaceState(null, "", "/account");
    add.click();
  }
}

// --- Confirm it's you ------------------------------------------------------------------
function setupConfirm() {
  async function finish(body) {
    const result = await post("/account/confirm", { flow_id: page.flow_id, pending: page.pending, ...body },
                              page.flow_csrf);
    if (!result.resubmit) { go(result.redirect_to); return; }
    // The interrupted change, posted again as its own form (now with a fresh sign-in).
    const form = document.createElement("form");
    form.method = "post"; form.action = result.resubmit.action; form.hidden = true;
    for (const [name, value] of Object.entries(result.resubmit.fields)) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = name; input.value = value; form.append(input);
    }
    document.body.append(form);
    form.submit();
  }
  const passkey = document.getElementById("confirm-passkey");
  if (passkey) {
    if (!supportsPasskeys()) passkey.disabled = true;
    passkey.addEventListener("click", async () => {
      clearMessages();
      try {
        const started = await post("/account/confirm/options", { flow_id: page.flow_id }, page.flow_csrf);
        const credential = await navigator.credentials.get({ publicKey: requestOptions(started.options) });
        showStatus(texts.checking_passkey);
        await finish({ method: "passkey", credential: credentialJSON(credential) });
      } catch (error) { handleCeremonyError(error); }
    });
  }
  const form = document.getElementById("confirm-password-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearMessages();
      try { await finish({ method: "password", password: document.getElementById("confirm-password").value }); }
      catch (error) { showError(error.message); }
    });
  }
}

// --- /recovery/new: one new way to sign in, after a recovery email ---------------------
function setupRecovered() {
  const signOutOthers = document.getElementById("sign-out-others");
  async function finish(body) {
    const result = await post("/recovery/new", { ...body, sign_out_others: signOutOthers.checked });
    go(result.redirect_to);
  }
  const create = document.getElementById("create-passkey");
  if (create) {
    if (!supportsPasskeys()) create.disabled = true;
    create.addEventListener("click", async () => {
      clearMessages();
      try {
        const options = await post("/recovery/new/passkey/options");
        const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
        showStatus(texts.saving_passkey);
        await finish({ method: "passkey", credential: credentialJSON(credential) });
      } catch (error) { handleCeremonyError(error); }
    });
  }
  const form = document.getElementById("password-form");
  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearMessages();
      try {
        await finish({ method: "password", password: document.getElementById("new-password").value });
      } catch (error) { showError(ceremonyMessage(error)); }
    });
  }
}

// --- /enroll: a passkey offered right after a sign-in ------------------------------------
// Never in the way: whatever fails or is cancelled, the page goes on to where the sign-in
// was going (page.next), and straight on when this browser cannot create a passkey.
const AUTOMATIC_UPGRADE_MS = 5000;  // the password manager answers at once, or not at all
async function setupEnroll() {
  const base = `/enroll/${page.flow_id}`;
  const onward = () => { window.location.replace(page.next); };
  async function save(credential) {
    const result = await post(base, { credential: credentialJSON(credential) });
    go(result.redirect_to);
  }
  if (!(await canCreatePasskey())) { onward(); return; }
  // The automatic upgrade: the password manager may add a passkey with no prompt.
  if (page.automatic && (await conditionalCreateAvailable())) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), AUTOMATIC_UPGRADE_MS);
    try {
      const options = await post(`${base}/options`, { conditional: true });
      const credential = await navigator.credentials.create({
        publicKey: creationOptions(options), mediation: "conditional", signal: controller.signal });
      clearTimeout(timer);
      await save(credential);
      return;
    } catch (_) {
      clearTimeout(timer);  // not added: the prompt (if this tenant shows one) asks instead
    }
  }
  if (!page.prompt) { onward(); return; }
  statusBox.hidden = true;
  document.getElementById("enroll-offer").hidden = false;
  const create = document.getElementById("create-passkey");
  create.addEventListener("click", async () => {
    clearMessages();
    create.disabled = true;
    try {
      const options = await post(`${base}/options`, { conditional: false });
      const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
      showStatus(texts.saving_passkey);
      await save(credential);
    } catch (_) {
      onward();
    }
  });
}

// --- the second-factor step: a security key (the Code field is a plain form) ------------
function setupSecondFactor() {
  const button = document.getElementById("use-security-key");
  if (!button) return;
  if (!supportsPasskeys()) button.disabled = true;
  const base = `/login/second-factor/${page.flow_id}/security-key`;
  button.addEventListener("click", async () => {
    clearMessages();
    try {
      const options = await post(`${base}/options`);
      const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
      const result = await post(base, { credential: credentialJSON(credential) });
      go(result.redirect_to);
    } catch (error) { handleCeremonyError(error); }
  });
}

// --- /account: Add a security key ------------------------------------------------------
function setupSecurityKeys() {
  const add = document.getElementById("add-security-key");
  if (!add) return;
  if (!supportsPasskeys()) add.disabled = true;
  add.addEventListener("click", async () => {
    clearMessages();
    try {
      const started = await post("/account/security-keys/options", {}, page.csrf);
      const credential = await navigator.credentials.create({ publicKey: creationOptions(started.options) });
      const result = await post("/account/security-keys",
        { flow_id: started.flow_id, credential: credentialJSON(credential) }, started.csrf);
      go(result.redirect_to);
    } catch (error) {
      if (error.code === "reauthentication_required") { go("/account/confirm"); return; }
      handleCeremonyError(error);
    }
  });
}

({ login: setupLogin, signup: setupSignup, account: () => { setupAccount(); setupSecurityKeys(); },
   confirm: setupConfirm, recovered: setupRecovered, enroll: setupEnroll, second_factor: setupSecondFactor })[
  page.mode
]?.();
