/*
 * Campaign composer: a live SMS counter under the message box, the characters that force
 * UCS-2, a one-click GSM-safe replacement and placeholder buttons. Plain JS, no build step.
 *
 * It counts what the server will count: the body trimmed as the server stores it, a newline,
 * then the shop's opt-out text (data-opt-out), through window.AstronoteSegments, the browser
 * port of astronote/services/segments.py. The server stays authoritative for the cost.
 */
(function () {
  "use strict";

  var SELECTOR = "textarea[data-composer]";

  function segments() {
    return window.AstronoteSegments;
  }

  // The text the counter measures: what rendering.render produces before placeholders are filled,
  // each URL the send shortens swapped for a short link of the same length (data-short-link).
  function measured(area) {
    var body = area.value.replace(/\r\n/g, "\n").trim();
    if (!body) return "";
    body = shortened(area, body);
    var optOut = area.getAttribute("data-opt-out") || "";
    return optOut ? body + "\n" + optOut : body;
  }

  // As astronote/services/links/urls.py finds URLs: to the next whitespace, less sentence
  // punctuation and unbalanced closing brackets. One holding a personal placeholder stays long;
  // the shop-wide ones (shop name, a shared discount code) are filled before shortening.
  var URL_PATTERN = /https?:\/\/[^\s<>"]+/gi;
  var TRAILING = ".,;:!?'\"*_~\u2026";
  var BRACKETS = { ")": "(", "]": "[", "}": "{" };
  var SHOP_WIDE = /\{\{\s*(shop_?name|discount_?code)\s*\}\}/gi;

  function occurrences(text, ch) {
    return text.split(ch).length - 1;
  }

  function trimUrl(url) {
    while (url) {
      var last = url.charAt(url.length - 1);
      var open = BRACKETS[last];
      var unbalanced = open && occurrences(url, open) < occurrences(url, last);
      if (TRAILING.indexOf(last) < 0 && !unbalanced) break;
      url = url.slice(0, -1);
    }
    return url;
  }

  function shortened(area, body) {
    var link = area.getAttribute("data-short-link");
    if (!link) return body;
    var form = area.form;
    var personalCodes = form && form.querySelector('[name="unique_codes"]:checked');
    return body.replace(URL_PATTERN, function (match) {
      var url = trimUrl(match);
      var bare = personalCodes ? url : url.replace(SHOP_WIDE, "x");
      if (bare.indexOf("{{") >= 0 || bare.indexOf("}}") >= 0) return match;
      try {
        if (!new URL(bare).hostname) return match;
      } catch (e) {
        return match;
      }
      return link + match.slice(url.length);
    });
  }

  function codePoint(ch) {
    return Array.from(ch).map(function (c) {
      return "U+" + c.codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    }).join(" ");
  }

  function slot(scope, name) {
    return scope.querySelector('[data-count="' + name + '"]');
  }

  function update(area) {
    var lib = segments();
    var form = area.form || document;
    if (!lib) return;
    var info = lib.count(measured(area));
    slot(form, "characters").textContent = info.characters.toLocaleString("en-US");
    slot(form, "encoding").textContent = info.encoding;
    slot(form, "segments").textContent = info.segments;
    slot(form, "plural").textContent = info.segments === 1 ? "" : "s";
    slot(form, "per-segment").textContent = info.perSegment;

    var warning = form.querySelector("#ucs2-warning");
    if (!warning) return;
    warning.hidden = info.encoding !== "UCS-2";
    var list = slot(form, "non-gsm");
    list.textContent = "";
    info.nonGsm.forEach(function (ch) {
      var mark = document.createElement("mark");
      mark.className = "non-gsm";
      mark.textContent = ch;
      mark.title = codePoint(ch);
      list.appendChild(mark);
      list.appendChild(document.createTextNode(" "));
    });
    // Which of them have no GSM-7 look-alike (emoji, most scripts): only deleting them helps.
    var stuck = info.nonGsm.filter(function (ch) {
      return lib.count(lib.gsmSafe(ch)).nonGsm.length > 0;
    });
    var button = form.querySelector("[data-gsm-safe]");
    var body = area.value;
    button.hidden = lib.gsmSafe(body) === body;
    var note = slot(form, "no-equivalent");
    note.hidden = stuck.length === 0;
    note.textContent = stuck.length
      ? "No GSM-7 equivalent for " + stuck.join(" ") + ": remove to send as GSM-7."
      : "";
  }

  function changed(area) {
    // One event: the counter, the preview and the cost all listen for input.
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertAtCursor(area, text) {
    var start = area.selectionStart == null ? area.value.length : area.selectionStart;
    var end = area.selectionEnd == null ? start : area.selectionEnd;
    area.focus();
    area.setRangeText(text, start, end, "end");
    changed(area);
  }

  function composerOf(element) {
    var form = element.closest("form");
    return (form || document).querySelector(SELECTOR);
  }

  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches(SELECTOR)) update(event.target);
  });

  document.addEventListener("click", function (event) {
    var insert = event.target.closest && event.target.closest("[data-insert]");
    var safe = event.target.closest && event.target.closest("[data-gsm-safe]");
    var area = (insert || safe) && composerOf(insert || safe);
    if (!area) return;
    event.preventDefault();
    if (insert) {
      insertAtCursor(area, insert.getAttribute("data-insert"));
    } else {
      area.value = segments().gsmSafe(area.value);
      changed(area);
    }
  });

  function init(root) {
    root.querySelectorAll(SELECTOR).forEach(update);
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
  });
  // A re-rendered form (validation errors) arrives through htmx.
  document.addEventListener("htmx:load", function () {
    init(document);
  });
})();
