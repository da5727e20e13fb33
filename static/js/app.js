// What the pages need beyond htmx: the balance right in every tab, focus kept across
// swaps, and times in the reader's own time zone. No framework, no build step.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- The balance in every tab --------------------------------------------------------
  // Each tab announces the balance it last read from the server; a tab showing another
  // number asks the server again (one cheap badge request). Back/Forward (bfcache) and a
  // tab coming back into view ask too, since nothing could tell them while they slept.
  var channel = "BroadcastChannel" in window ? new BroadcastChannel("creditapp-balance") : null;
  var lastAsked = 0;

  function badge() { return document.getElementById("credit-badge"); }

  var pending = null;

  function refreshBalance() {
    if (!badge() || !window.htmx || pending) { return; }
    // focus and visibilitychange often fire together: one request for both, never none.
    var wait = Math.max(0, lastAsked + 250 - Date.now());
    pending = window.setTimeout(function () {
      pending = null;
      lastAsked = Date.now();
      window.htmx.trigger(document.body, "credits-changed", { source: "refresh" });
    }, wait);
  }

  var announced = null;

  function announce() {
    var el = badge();
    if (!el) { return; }
    announced = el.getAttribute("data-credits");
    if (channel) { channel.postMessage({ credits: announced }); }
  }

  if (channel) {
    channel.onmessage = function (message) {
      var el = badge();
      if (el && message.data && message.data.credits !== el.getAttribute("data-credits")) {
        refreshBalance();
      }
    };
  }

  // Back/Forward: restored from the bfcache (persisted), or re-read from the HTTP cache
  // (a "back_forward" navigation), the page may show an old balance either way.
  function cameBack() {
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    return Boolean(nav && nav.type === "back_forward");
  }

  window.addEventListener("pageshow", function (event) {
    if (event.persisted || cameBack()) { refreshBalance(); } else { announce(); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { refreshBalance(); }
  });
  window.addEventListener("focus", refreshBalance);

  // --- Times in the reader's time zone ---------------------------------------------------
  // The server writes UTC in <time datetime>, readable without this script.
  var formatter = window.Intl ? new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }) : null;
  // A day (an expiry, when a lot was added): the date alone, in the reader's time zone.
  var dayFormatter = window.Intl ? new Intl.DateTimeFormat(undefined, { dateStyle: "medium" }) : null;

  function localise(times, using) {
    for (var i = 0; i < times.length; i++) {
      var when = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(when.getTime())) {
        times[i].textContent = using.format(when);
        times[i].title = times[i].getAttribute("datetime");
      }
    }
  }

  function localiseTimes(root) {
    if (!formatter) { return; }
    localise((root || document).querySelectorAll("time[data-local]"), formatter);
    localise((root || document).querySelectorAll("time[data-local-date]"), dayFormatter);
    var zone = document.querySelectorAll("[data-timezone]");
    for (var j = 0; j < zone.length; j++) {
      zone[j].textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
    }
  }

  // --- Focus across htmx swaps -----------------------------------------------------------
  // Load more: remember the last row and the form that asked; once its rows are in, the
  // first new row takes focus (other swaps meanwhile, such as the badge, leave it alone).
  var focusAfterLoadMore = null;
  var loadMoreForm = null;

  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail.elt;
    if (elt && elt.closest && elt.closest("#load-more-row")) {
      var body = elt.closest("tbody");  // History's ledger, or the Credits page's lots
      var rows = body ? body.querySelectorAll("tr.entry") : [];
      focusAfterLoadMore = rows.length ? rows[rows.length - 1] : null;
      loadMoreForm = elt;
    }
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var connected = target && target.isConnected;
    localiseTimes(connected ? target : document);
    var asked = event.detail.requestConfig ? event.detail.requestConfig.elt : event.detail.elt;
    if (focusAfterLoadMore && loadMoreForm && asked === loadMoreForm) {
      var next = focusAfterLoadMore.nextElementSibling;
      focusAfterLoadMore = null;
      loadMoreForm = null;
      if (next && next.classList.contains("entry")) {
        next.setAttribute("tabindex", "-1");
        next.focus();
      }
      return;
    }
    // Generate: the job's status (or the problem) takes focus, so a keyboard or screen
    // reader user lands on what happened. The job's own polling keeps it (same id).
    if (connected && target.id === "result") {
      var status = target.querySelector("[data-focus-after-swap]");
      if (status) { status.focus(); }
    }
  });

  // A badge that read a new balance tells the other tabs, and every other place this page
  // states the balance ([data-balance]) takes the badge's number, so a page never shows two.
  document.addEventListener("htmx:afterSettle", function () {
    var el = badge();
    if (!el) { return; }
    mirrorBalance(el);
    if (el.getAttribute("data-credits") !== announced) { announce(); }
  });

  function mirrorBalance(el) {
    // The badge's text starts with the balance as the server wrote it ("1,234 credits").
    var text = (el.firstChild && el.firstChild.nodeValue || "").trim().split(" ")[0];
    var negative = Number(el.getAttribute("data-credits")) < 0;
    var places = document.querySelectorAll("[data-balance]");
    for (var i = 0; i < places.length; i++) {
      if (text && places[i].textContent !== text) { places[i].textContent = text; }
    }
    var notices = document.querySelectorAll("[data-balance-negative]");
    for (var j = 0; j < notices.length; j++) { notices[j].hidden = !negative; }
  }

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); });
}());
