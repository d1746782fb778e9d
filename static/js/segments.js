/*
 * SMS segment counter for the live composer: a port of astronote/services/segments.py and
 * astronote/services/gsm.py. Keep the two in step: tests/test_segments.py runs this file under
 * Node over the Python case table, with and without Intl.Segmenter.
 *
 * window.AstronoteSegments.count(text)   -> {encoding, characters, units, segments,
 *                                             perSegment, nonGsm: [...]}
 * window.AstronoteSegments.gsmSafe(text) -> text with GSM-7 look-alikes substituted
 */
(function (root) {
  'use strict';

  var GSM7 = 'GSM-7';
  var UCS2 = 'UCS-2';
  // [single message, per segment once multipart]: 140 octets, minus a 6-octet UDH if multipart.
  var LIMITS = { 'GSM-7': [160, 153], 'UCS-2': [70, 67] };

  // GSM 03.38 basic table rows 0x00-0x7F, without ESC (0x1B).
  var BASIC = new Set(
    '@£$¥èéùìòÇ\nØø\rÅå' +
      'Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ' +
      ' !"#¤%&\'()*+,-./' +
      '0123456789:;<=>?' +
      '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§' +
      '¿abcdefghijklmnopqrstuvwxyzäöñüà'
  );
  // Reached through ESC, so each costs 2 septets in a GSM-7 message.
  var EXTENSION = new Set('^{}\\[~]|€\f');

  function isGsmChar(ch) {
    return BASIC.has(ch) || EXTENSION.has(ch);
  }

  function isGsm(text) {
    for (var ch of text) {
      if (!isGsmChar(ch)) return false;
    }
    return true;
  }

  function septets(text) {
    var n = 0;
    for (var ch of text) n += EXTENSION.has(ch) ? 2 : 1;
    return n;
  }

  function utf16Units(text) {
    return text.length;
  }

  // --- Look-alike map (same entries, same order of precedence as gsm.py) ---------------------

  var MARKS = /\p{Mn}/gu;

  function stripMarks(text) {
    return text.normalize('NFD').replace(MARKS, '');
  }

  function buildSmartMap() {
    var map = {};
    function put(chars, value) {
      for (var ch of chars) map[ch] = value;
    }
    put('\u2018\u2019\u201a\u201b\u2032\u00b4`\u2039\u203a', "'");
    put('\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb', '"');
    put('\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2022', '-');
    map['\u2026'] = '...';
    // Unicode spaces pasted from documents or web pages look like a plain space.
    put('\t\u00a0\u1680\u202f\u205f\u3000', ' ');
    for (var sp = 0x2000; sp < 0x200b; sp++) map[String.fromCharCode(sp)] = ' ';
    put('\u2028\u2029', '\n');
    // Invisible, yet any one of them would switch the whole message to UCS-2.
    put('\u00ad\u200b\u2060\ufeff', '');
    // Generated, not typed out, so it matches the Python map entry for entry.
    for (var cp = 0x00c0; cp < 0x0180; cp++) {
      var ch = String.fromCharCode(cp);
      var base = stripMarks(ch);
      if (!isGsmChar(ch) && base.length === 1 && BASIC.has(base)) map[ch] = base;
    }
    Object.assign(map, { Đ: 'D', đ: 'd', Ł: 'L', ł: 'l', ı: 'i', Œ: 'OE', œ: 'oe' });
    // Greek capitals that look like Latin ones: the usual Greek SMS-gateway transliteration.
    var greek = 'ΑΒΕΖΗΙΚΜΝΟΡΤΥΧ';
    var latin = 'ABEZHIKMNOPTYX';
    for (var i = 0; i < greek.length; i++) map[greek[i]] = latin[i];
    return map;
  }

  var SMART_MAP = buildSmartMap();
  var hasOwn = Object.prototype.hasOwnProperty;

  // --- Grapheme clusters ----------------------------------------------------------------------
  // Intl.Segmenter when the browser has it; otherwise the same approximation as segments.py.

  var ZWJ = '\u200d';
  // Marks, ZWNJ, Thai/Lao SARA AM, skin-tone modifiers and emoji tag characters.
  var EXTEND = /^[\p{Mn}\p{Me}\p{Mc}\u200c\u0e33\u0eb3\u{1F3FB}-\u{1F3FF}\u{E0020}-\u{E007F}]$/u;
  var CONTROL = /^[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]$/u;
  var REGIONAL = /^[\u{1F1E6}-\u{1F1FF}]$/u;
  var MODIFIER = /^[\u{1F3FB}-\u{1F3FF}]$/u;
  var PICTOGRAPHIC = new RegExp(
    '^[\\u{1F000}-\\u{1FFFF}\\u2190-\\u2BFF' +
      '\\u00a9\\u00ae\\u203c\\u2049\\u2122\\u2139\\u3030\\u303d\\u3297\\u3299]$',
    'u'
  );

  // Indic viramas that join two consonants into one conjunct (UAX #29 rule GB9c).
  var VIRAMAS = new Set('\u094d\u09cd\u0acd\u0b4d\u0c4d\u0d4d');
  var LETTER_OTHER = /^\p{Lo}$/u;

  function isConsonantOf(ch, virama) {
    // Each of these scripts fills one 128-code-point block.
    return LETTER_OTHER.test(ch) && ch.codePointAt(0) >> 7 === virama.codePointAt(0) >> 7;
  }

  function isPictographic(ch) {
    return PICTOGRAPHIC.test(ch) && !REGIONAL.test(ch) && !MODIFIER.test(ch);
  }

  function isControl(ch) {
    return CONTROL.test(ch) && ch !== ZWJ && !EXTEND.test(ch);
  }

  function joins(cluster, ch) {
    var chars = Array.from(cluster);
    var prev = chars[chars.length - 1];
    // CR and LF stay two clusters: Twilio counts "\r\n" as 2 characters and may split it.
    if (isControl(prev) || isControl(ch)) return false;
    if (EXTEND.test(ch) || ch === ZWJ) return true;
    if (prev === ZWJ) return isPictographic(ch) && isPictographic(chars[0]);
    if (VIRAMAS.has(prev)) return isConsonantOf(ch, prev) && isConsonantOf(chars[0], prev);
    // Flags are pairs of regional indicators; a third one starts a new flag.
    return chars.length === 1 && REGIONAL.test(prev) && REGIONAL.test(ch);
  }

  function approximateGraphemes(text) {
    var clusters = [];
    for (var ch of text) {
      var last = clusters.length - 1;
      if (last >= 0 && joins(clusters[last], ch)) clusters[last] += ch;
      else clusters.push(ch);
    }
    return clusters;
  }

  var segmenter = null;

  function graphemes(text) {
    if (typeof Intl === 'undefined' || typeof Intl.Segmenter !== 'function') {
      return approximateGraphemes(text);
    }
    segmenter = segmenter || new Intl.Segmenter('en', { granularity: 'grapheme' });
    var clusters = [];
    for (var part of segmenter.segment(text)) {
      if (part.segment === '\r\n') clusters.push('\r', '\n');
      else clusters.push(part.segment);
    }
    return clusters;
  }

  // --- Segments -------------------------------------------------------------------------------

  function fill(costs, capacity) {
    var segments = 1;
    var used = 0;
    for (var cost of costs) {
      if (used && used + cost > capacity) {
        segments += 1;
        used = 0;
      }
      used += cost;
      // Only a cluster longer than a whole segment gets here; it spills over by code units.
      while (used > capacity) {
        segments += 1;
        used -= capacity;
      }
    }
    return segments;
  }

  function count(text) {
    var clusters = graphemes(String(text == null ? '' : text));
    var nonGsm = Array.from(new Set(clusters.filter(function (c) { return !isGsm(c); })));
    var encoding = nonGsm.length ? UCS2 : GSM7;
    var measure = nonGsm.length ? utf16Units : septets;
    var costs = clusters.map(measure);
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var single = LIMITS[encoding][0];
    var multi = LIMITS[encoding][1];
    var multipart = units > single;
    return {
      encoding: encoding,
      characters: clusters.length,
      units: units,
      segments: multipart ? fill(costs, multi) : units ? 1 : 0,
      perSegment: multipart ? multi : single,
      nonGsm: nonGsm,
    };
  }

  // --- GSM look-alikes ------------------------------------------------------------------------

  function applyMap(text) {
    var out = '';
    for (var ch of text) out += hasOwn.call(SMART_MAP, ch) ? SMART_MAP[ch] : ch;
    return out;
  }

  function safeCluster(cluster) {
    if (isGsm(cluster)) return cluster;
    // NFC first: a decomposed "e" + U+0301 is really "é", which GSM-7 has.
    var composed = applyMap(cluster.normalize('NFC'));
    if (isGsm(composed)) return composed;
    var bare = applyMap(stripMarks(cluster));
    if (bare && isGsm(bare)) return bare;
    return cluster;
  }

  function gsmSafe(text) {
    return graphemes(String(text == null ? '' : text)).map(safeCluster).join('');
  }

  root.AstronoteSegments = {
    count: count,
    gsmSafe: gsmSafe,
    smartMap: Object.freeze(Object.assign({}, SMART_MAP)),
    MAX_MESSAGE_CHARS: 1600,
  };
})(window);
