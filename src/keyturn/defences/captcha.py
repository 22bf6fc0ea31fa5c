"""Server-side captcha verification, as each provider documents it.

Turnstile, hCaptcha and reCAPTCHA share one siteverify protocol: POST a form with `secret`,
`response` (the widget's token) and `remoteip`; the answer is JSON with `success` (and, for
reCAPTCHA v3, `score` and `action`). A provider that does not answer in time, answers with
an error status or with something that is not that JSON is *unavailable*: the caller fails
closed (passwords only; passkeys never get here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx2

from keyturn.domain.tenant import CaptchaSettings

MAX_TOKEN_LENGTH = 4096  # tokens are a few hundred to ~2000 characters; never forward a novel


class CaptchaUnavailable(Exception):
    """The provider could not give a verdict (down, slow, malformed); `reason` is loggable."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CaptchaVerdict:
    passed: bool
    reason: str  # "ok", or why not: the provider's error codes, "low_score", "wrong_action"
    score: float | None = None


async def verify(
    captcha: CaptchaSettings, *, secret: str, token: str, remote_ip: str, action: str
) -> CaptchaVerdict:
    """Ask the provider about one token (each is good once). Raises CaptchaUnavailable."""
    url = captcha.resolved_verify_url
    assert url is not None, "verify() needs a provider"
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return CaptchaVerdict(passed=False, reason="malformed_token")
    form = {"secret": secret, "response": token, "remoteip": remote_ip}
    try:
        async with httpx2.AsyncClient(timeout=captcha.timeout_seconds, follow_redirects=False) as http:
            response = await http.post(url, data=form, headers={"user-agent": "Keyturn-Captcha/1"})
    except httpx2.HTTPError as exc:
        raise CaptchaUnavailable(f"siteverify unreachable: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise CaptchaUnavailable(f"siteverify answered {response.status_code}")
    try:
        answer = json.loads(response.content)
    except ValueError:
        raise CaptchaUnavailable("siteverify answered something other than JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("success"), bool):
        raise CaptchaUnavailable("siteverify answered without a boolean success")
    if not answer["success"]:
        codes = answer.get("error-codes")
        reason = ",".join(str(c) for c in codes)[:200] if isinstance(codes, list) and codes else "rejected"
        return CaptchaVerdict(passed=False, reason=reason)
    if captcha.provider == "recaptcha" and captcha.recaptcha_version == "v3":
        return _v3_verdict(captcha, answer, action)
    return CaptchaVerdict(passed=True, reason="ok")


def _v3_verdict(captcha: CaptchaSettings, answer: dict[str, object], action: str) -> CaptchaVerdict:
    """reCAPTCHA v3 always "succeeds" for a real token: the score and the action decide."""
    score = answer.get("score")
    if not isinstance(score, int | float) or isinstance(score, bool):
        raise CaptchaUnavailable("reCAPTCHA v3 answered without a score")
    if answer.get("action") != action:
        return CaptchaVerdict(passed=False, reason="wrong_action", score=float(score))
    if score < captcha.min_score:
        return CaptchaVerdict(passed=False, reason="low_score", score=float(score))
    return CaptchaVerdict(passed=True, reason="ok", score=float(score))
