/* kdlib book: blocks that scroll sideways show where more is hidden, and figures never shrink
   below 60% of their drawn width (their text would drop below 8 px). See kdlib.css. */
(function () {
  "use strict";
  var MIN_FIGURE_SCALE = 0.6;
  /* candidates for a block that scrolls sideways (the test checks every element) */
  var CANDIDATES = "article div, article pre, article table, article figure, article span.math, " +
    "article mjx-container[display]";

  function mark(el) {
    /* an inline box (clientWidth 0) cannot scroll: only blocks get the cue */
    var more = el.clientWidth > 0 ? el.scrollWidth - el.clientWidth : 0;
    el.classList.toggle("kdlib-more-left", more > 1 && el.scrollLeft > 1);
    el.classList.toggle("kdlib-more-right", more > 1 && el.scrollLeft < more - 1);
  }

  function fitFigure(img) {
    if (!img.naturalWidth) return;
    var fig = img.parentElement;
    if (!fig.classList.contains("kdlib-figure-scroll")) {
      var box = document.createElement("div");
      box.className = "kdlib-figure-scroll";
      fig.insertBefore(box, img);
      box.appendChild(img);
    }
    var shown = Math.min(img.naturalWidth, img.parentElement.clientWidth);
    img.style.width = Math.max(shown, Math.round(img.naturalWidth * MIN_FIGURE_SCALE)) + "px";
  }

  function all() {
    document.querySelectorAll("div.cell_output img").forEach(function (img) {
      if (img.complete) fitFigure(img); else img.addEventListener("load", function () { fitFigure(img); all(); });
    });
    document.querySelectorAll("span.math > mjx-container").forEach(function (c) {
      /* an inline formula longer than the line scrolls in its own box */
      var line = c.parentElement.closest("p, li, dd, dt, figcaption");
      if (!line || c.parentElement.closest("td, th")) return;
      c.parentElement.classList.remove("kdlib-inline-wide");
      c.parentElement.classList.toggle("kdlib-inline-wide", c.getBoundingClientRect().width > line.clientWidth);
    });
    document.querySelectorAll(CANDIDATES).forEach(function (el) {
      var o = getComputedStyle(el).overflowX;
      if (o !== "auto" && o !== "scroll") return;
      if (!el.dataset.kdlibScroll) {
        el.dataset.kdlibScroll = "1";
        el.addEventListener("scroll", function () { mark(el); }, { passive: true });
      }
      mark(el);
    });
  }

  /* The theme's download menu offers ".pdf" as the browser's print dialog for one page;
     point it at the PDF of the whole book (make pdf writes _build/html/kdlib-book.pdf). */
  function bookPdf() {
    var root = document.documentElement.getAttribute("data-content_root") || "";
    document.querySelectorAll("button.btn-download-pdf-button").forEach(function (b) {
      var a = document.createElement("a");
      a.href = root + "kdlib-book.pdf";
      a.className = b.className;
      a.title = "The whole book as one PDF";
      a.innerHTML = b.innerHTML;
      var label = a.querySelector(".btn__text-container");
      if (label) label.textContent = "book .pdf";
      b.replaceWith(a);
    });
  }

  function start() {
    bookPdf();
    all();
    window.addEventListener("resize", function () {
      document.querySelectorAll("div.kdlib-figure-scroll img").forEach(function (img) { img.style.width = ""; });
      all();
    });
    window.addEventListener("load", function () {
      all();
      var tries = 0;
      (function afterMath() {   /* MathJax loads deferred: re-mark once it has typeset */
        var mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
        if (mj) mj.then(all); else if (tries++ < 50) setTimeout(afterMath, 100);
      })();
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start); else start();
  window.kdlibLayout = all;
})();
