/* Live operations centre (ours): listens to /dashboard/live (server-sent events) and, without a reload,
   refreshes the queue, the map and the counters; red lights and urgent tickets raise a banner with a
   sound until the operator acknowledges them (remembered in this browser). */
(function () {
  "use strict";
  if (typeof EventSource === "undefined") return;
  var ACK_KEY = "gridbot.ack";
  var banner = document.getElementById("live-banner");
  var lastMark = null, beeping = null, audio = null;

  function acked() {
    try { return JSON.parse(localStorage.getItem(ACK_KEY) || "{}"); } catch (e) { return {}; }
  }
  function keyOf(a) { return a.number + (a.red ? ":red" : "") + (a.urgent ? ":urgent" : ""); }

  function beep() {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var osc = audio.createOscillator(), gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = 880;
      gain.gain.value = 0.08;
      osc.connect(gain);
      gain.connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch (e) { /* no audio device: the banner still shows */ }
  }

  function showAlarms(alarms) {
    if (!banner) return;
    var seen = acked();
    var fresh = alarms.filter(function (a) { return !seen[keyOf(a)]; });
    var list = banner.querySelector("[data-live=alarm-list]");
    list.textContent = "";
    fresh.forEach(function (a) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = "/dashboard/tickets/" + encodeURIComponent(a.number);
      link.textContent = a.number;
      li.appendChild(link);
      li.appendChild(document.createTextNode(" " + a.category + " · " + a.area + " · " +
        (a.urgent ? banner.dataset.urgentWord + " " : "") + (a.red ? banner.dataset.redWord : "")));
      li.dataset.number = a.number;
      list.appendChild(li);
    });
    banner.hidden = fresh.length === 0;
    banner.dataset.count = String(fresh.length);
    banner.dataset.keys = JSON.stringify(fresh.map(keyOf));
    if (fresh.length && !beeping) {
      beep();
      beeping = setInterval(beep, 4000);
    } else if (!fresh.length && beeping) {
      clearInterval(beeping);
      beeping = null;
    }
  }

  if (banner) {
    banner.querySelector("[data-live=ack]").addEventListener("click", function () {
      var seen = acked();
      JSON.parse(banner.dataset.keys || "[]").forEach(function (k) { seen[k] = Date.now(); });
      localStorage.setItem(ACK_KEY, JSON.stringify(seen));
      showAlarms([]);
    });
  }

  function refreshQueue() {
    var queue = document.getElementById("queue");
    if (!queue || typeof htmx === "undefined") return;
    // Never throw away a half-made bulk selection: offer the refresh instead.
    if (queue.querySelector("input[name=numbers]:checked")) {
      var note = document.getElementById("live-stale");
      if (note) note.hidden = false;
      return;
    }
    htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#queue", select: "#queue", swap: "outerHTML" });
  }

  function onPulse(ev) {
    var data = JSON.parse(ev.data);
    document.querySelectorAll("[data-live=open-total]").forEach(function (n) { n.textContent = String(data.open_total); });
    document.querySelectorAll("[data-live=red-total]").forEach(function (n) { n.textContent = String(data.red_total); });
    showAlarms(data.alarms);
    if (lastMark !== null && data.mark !== lastMark) {
      refreshQueue();
      if (window.opsMap) window.opsMap.reload();
      document.dispatchEvent(new CustomEvent("gridbot:changed", { detail: data }));
    }
    lastMark = data.mark;
    document.body.dataset.liveMark = data.mark;
  }

  var source = new EventSource("/dashboard/live");
  source.addEventListener("pulse", onPulse);
  window.addEventListener("pagehide", function () { source.close(); });
})();
