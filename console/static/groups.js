// The group page's lag chart: drawn from the JSON the lag fragment carries, redrawn each time htmx
// swaps a fresh fragment in (the console samples the lag on each refresh).
(function () {
  "use strict";
  let chart = null;

  function data() {
    const node = document.getElementById("lag-data");
    return node ? JSON.parse(node.textContent) : null;
  }

  function draw() {
    const canvas = document.getElementById("lag-chart");
    const fresh = data();
    if (!canvas || !fresh) return;
    if (chart === null) {
      chart = new Chart(canvas, {
        type: "line",
        data: fresh,
        options: {
          animation: false,
          maintainAspectRatio: false,
          scales: {
            x: { title: { display: true, text: "Time (UTC)" } },
            y: { beginAtZero: true, title: { display: true, text: "Lag (records)" }, ticks: { precision: 0 } },
          },
        },
      });
    } else {
      chart.data = fresh;
      chart.update();
    }
  }

  document.addEventListener("DOMContentLoaded", draw);
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "lag") draw();
  });
})();
