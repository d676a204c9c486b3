// Jimu public forms: the proof of work the server asked for. Finds a
// counter c such that SHA-256(nonce + ":" + c) starts with `bits` zero
// bits, a slice at a time so the page stays responsive, then lets the
// form be sent. SHA-256 is written out because crypto.subtle exists only
// on https pages.
(function () {
  "use strict";
  var form = document.querySelector("form[data-pow-nonce]");
  if (!form) return;
  var nonce = form.getAttribute("data-pow-nonce");
  var bits = parseInt(form.getAttribute("data-pow-bits"), 10) || 0;
  var out = form.querySelector("input[name=_pow]");
  var button = form.querySelector("button[type=submit]");
  var status = document.getElementById("pow-status");
  var K = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  // first returns the first 32 bits of SHA-256 of an ASCII string.
  function first(s) {
    var n = s.length, m = new Array(((n + 8) >> 6) * 16 + 16), W = new Array(64), i, j;
    for (i = 0; i < m.length; i++) m[i] = 0;
    for (i = 0; i < n; i++) m[i >> 2] |= s.charCodeAt(i) << (24 - (i & 3) * 8);
    m[n >> 2] |= 0x80 << (24 - (n & 3) * 8);
    m[m.length - 1] = n * 8;
    var H = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    for (i = 0; i < m.length; i += 16) {
      var a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (j = 0; j < 64; j++) {
        if (j < 16) {
          W[j] = m[i + j] | 0;
        } else {
          var x = W[j - 15], y = W[j - 2];
          W[j] = (((x >>> 7 | x << 25) ^ (x >>> 18 | x << 14) ^ (x >>> 3)) + W[j - 16] +
            ((y >>> 17 | y << 15) ^ (y >>> 19 | y << 13) ^ (y >>> 10)) + W[j - 7]) | 0;
        }
        var t1 = (h + ((e >>> 6 | e << 26) ^ (e >>> 11 | e << 21) ^ (e >>> 25 | e << 7)) +
          ((e & f) ^ (~e & g)) + K[j] + W[j]) | 0;
        var t2 = (((a >>> 2 | a << 30) ^ (a >>> 13 | a << 19) ^ (a >>> 22 | a << 10)) +
          ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0;
      H[4] = (H[4] + e) | 0; H[5] = (H[5] + f) | 0; H[6] = (H[6] + g) | 0; H[7] = (H[7] + h) | 0;
    }
    return H[0] >>> 0;
  }
  var limit = Math.pow(2, 32 - bits), counter = 0;
  if (button) button.disabled = true;
  if (status) status.hidden = false;
  function slice() {
    for (var k = 0; k < 5000; k++, counter++) {
      if (first(nonce + ":" + counter) < limit) {
        out.value = String(counter);
        if (button) button.disabled = false;
        if (status) status.hidden = true;
        return;
      }
    }
    setTimeout(slice, 0);
  }
  slice();
})();
