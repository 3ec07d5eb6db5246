/* The login page: fills the hidden `next` field from ?next= and shows "wrong token" after ?error=1.
 * The form itself posts to /login without script, so it works even if this file fails to load.
 */
(function () {
  "use strict";

  /** Only a path on this site may be the target after login (no "//evil.example" or "https://…"). */
  function safeNext(value) {
    if (typeof value !== "string" || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\")) return "/";
    return value;
  }

  function start() {
    const params = new URLSearchParams(location.search);
    document.getElementById("next").value = safeNext(params.get("next"));
    document.getElementById("login-error").hidden = params.get("error") !== "1";
    // The banner, if no token is set; a 401 here must not redirect to this very page again.
    if (window.Teppan) window.Teppan.checkOpenAccess({ redirectOn401: false });
    document.getElementById("token").focus();
  }

  if (typeof module !== "undefined" && module.exports) module.exports = { safeNext };
  if (typeof document === "undefined") return;
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
