// The urgent-alarm banner: polled by htmx; while it holds an alarm, beep every few seconds. Browsers allow sound
// only after the operator has touched the page, so the first click or key press arms it.
(function () {
  let audio = null;
  const arm = () => { if (!audio && window.AudioContext) { audio = new AudioContext(); } };
  document.addEventListener("click", arm, { once: true });
  document.addEventListener("keydown", arm, { once: true });
  function beep() {
    if (!audio || !document.querySelector("#alarm-banner [data-alarm]")) { return; }
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.2;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.4);
  }
  setInterval(beep, 3000);
})();
