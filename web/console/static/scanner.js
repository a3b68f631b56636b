/* The till's QR scanner: the device's rear camera, decoded in the page (vendor/jsqr/jsQR.js,
 * served by the app: no CDN, so it works on a shop network without internet).
 *
 *   const scanner = LoyaltyScanner.create({video, onCode, onMessage, messages});
 *   scanner.start();   // asks for the camera; onCode(text) once per distinct code seen
 *   scanner.stop();    // lets the camera go (the light on the device goes off)
 *
 * The camera is released whenever the page is hidden (another tab, the phone locked) and
 * whenever the page calls stop(): a till does not keep filming the counter. Decoding runs
 * on a small canvas a few times a second, which is plenty for a code held up to the lens
 * and spares a phone's battery. ``messages`` are the page's own words (translated on the
 * server): unsupported, refused, missing, failed, starting, scanning.
 * Needs a secure context (https, or localhost): browsers give no camera to plain http.
 */
(function (global) {
  "use strict";

  var DECODE_EVERY_MS = 150;
  var MAX_SIDE = 640; // frames are scaled down to this before decoding

  function create(options) {
    var video = options.video;
    var onCode = options.onCode;
    var say = options.onMessage || function () {};
    var words = options.messages || {};
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });
    var stream = null;
    var timer = null;
    var last = null; // the last code reported: the same card held still is reported once
    var wanted = false; // start() was called and stop() not yet

    function text(key, fallback) {
      return words[key] || fallback;
    }

    function release() {
      if (timer !== null) {
        clearTimeout(timer);
        timer = null;
      }
      if (stream !== null) {
        stream.getTracks().forEach(function (track) { track.stop(); });
        stream = null;
      }
      video.srcObject = null;
    }

    function tick() {
      timer = null;
      if (stream === null) {
        return;
      }
      if (video.readyState >= 2 && video.videoWidth > 0) {
        var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
        var width = Math.max(1, Math.round(video.videoWidth * scale));
        var height = Math.max(1, Math.round(video.videoHeight * scale));
        if (canvas.width !== width || canvas.height !== height) {
          canvas.width = width;
          canvas.height = height;
        }
        context.drawImage(video, 0, 0, width, height);
        var frame = context.getImageData(0, 0, width, height);
        var found = global.jsQR(frame.data, width, height, { inversionAttempts: "attemptBoth" });
        if (found && found.data && found.data !== last) {
          last = found.data;
          onCode(found.data);
        }
      }
      if (stream !== null) {
        timer = setTimeout(tick, DECODE_EVERY_MS);
      }
    }

    function explain(error) {
      var name = error && error.name;
      if (name === "NotAllowedError" || name === "SecurityError") {
        return text("refused", "The camera was not allowed. Allow it in the browser's settings, or type the code.");
      }
      if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
        return text("missing", "No camera found on this device: type the code.");
      }
      return text("failed", "The camera could not be started: type the code.");
    }

    function start() {
      wanted = true;
      last = null;
      if (stream !== null) {
        return Promise.resolve(true);
      }
      if (!global.navigator.mediaDevices || !global.navigator.mediaDevices.getUserMedia || !global.jsQR) {
        say(text("unsupported", "This browser cannot use the camera here (it needs https): type the code."), "error");
        return Promise.resolve(false);
      }
      say(text("starting", "Starting the camera..."), "info");
      return global.navigator.mediaDevices.getUserMedia({
        audio: false,
        video: { facingMode: { ideal: "environment" } }
      }).then(function (media) {
        if (!wanted || document.hidden) { // stopped or hidden while the permission was asked
          media.getTracks().forEach(function (track) { track.stop(); });
          return false;
        }
        stream = media;
        video.setAttribute("playsinline", "");
        video.muted = true;
        video.srcObject = media;
        var playing = video.play();
        if (playing && playing.catch) {
          playing.catch(function () {});
        }
        say(text("scanning", "Hold the QR code in front of the camera."), "info");
        tick();
        return true;
      }, function (error) {
        wanted = false;
        say(explain(error), "error");
        return false;
      });
    }

    function stop() {
      wanted = false;
      release();
    }

    function running() {
      return stream !== null;
    }

    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        release(); // still wanted: comes back when the page does
      } else if (wanted && stream === null) {
        start();
      }
    });
    global.addEventListener("pagehide", stop);

    return { start: start, stop: stop, running: running, forget: function () { last = null; } };
  }

  global.LoyaltyScanner = { create: create };
})(window);
