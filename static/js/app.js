/* The page glue every page loads (segments.js and composer.js serve the composer).
 * Inside the Shopify admin it holds each htmx request in htmx:confirm until App
 * Bridge mints a fresh session token, attaches it as a Bearer header (App Bridge only
 * patches fetch; htmx 2 uses XHR), retries once on a 401 that asks for it, and shows
 * toasts (App Bridge's, else our own). Without App Bridge (development, tests, a
 * blocked CDN) it stays out of the way so forms and links still work.
 */
(function () {
  "use strict";
  var sessionToken = null;
  var RETRY_HEADER = "X-Shopify-Retry-Invalid-Session-Request";

  function appBridge() {
    return window.shopify && typeof window.shopify.idToken === "function" ? window.shopify : null;
  }

  function showToast(message, isError) {
    var bridge = appBridge();
    if (bridge && bridge.toast) { bridge.toast.show(message, { isError: !!isError, duration: 5000 }); return; }
    var box = document.getElementById("toast");
    if (!box) return;
    box.textContent = message;
    box.className = "toast" + (isError ? " toast-error" : "");
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!window.htmx) return;
    htmx.config.refreshOnHistoryMiss = true; // history misses bypass htmx:confirm
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "401", swap: false, error: true },
      { code: "...", swap: true }, // show validation and error fragments in place
    ];
  });

  // htmx:confirm fires before the request is built; we may delay it for a token.
  document.addEventListener("htmx:confirm", function (event) {
    var bridge = appBridge();
    if (!bridge) return; // let htmx handle hx-confirm itself
    event.preventDefault();
    var question = event.detail.question;
    if (question && !window.confirm(question)) return;
    bridge.idToken().then(function (token) {
      sessionToken = token;
      event.detail.issueRequest(true);
    }).catch(function () { showToast("Your session expired. Reload the page.", true); });
  });

  document.addEventListener("htmx:configRequest", function (event) {
    if (sessionToken) event.detail.headers["Authorization"] = "Bearer " + sessionToken;
  });

  // One retry with a fresh token when the server says the token was stale.
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var elt = event.detail.elt;
    if (xhr.status === 401 && xhr.getResponseHeader(RETRY_HEADER) === "1" && appBridge() && !elt._astronoteRetried) {
      elt._astronoteRetried = true;
      var config = event.detail.requestConfig;
      appBridge().idToken().then(function (token) {
        sessionToken = token;
        htmx.ajax(config.verb.toUpperCase(), config.path, { source: elt, target: event.detail.target });
      });
      return;
    }
    if (xhr.status === 401) showToast("Your session expired. Reload the page.", true);
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful && event.detail.elt) event.detail.elt._astronoteRetried = false;
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("Astronote could not be reached. Check your connection and try again.", true);
  });

  // HX-Trigger events bubble from the element that made the request.
  document.addEventListener("astronote:toast", function (event) {
    showToast(event.detail.message, event.detail.isError);
  });
})();
