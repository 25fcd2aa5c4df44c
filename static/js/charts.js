// Charts drawn from JSON islands (<script type="application/json">), on load and after every htmx swap:
// a report run's results (#results-chart from #results-data) and a stream's events per minute
// (#epm-chart from #epm-data, updated in place as the status partial refreshes).
(function () {
  function data(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function results() {
    var canvas = document.getElementById("results-chart");
    var chart = data("results-data");
    if (!window.Chart || !canvas || !chart || canvas.dataset.rendered) return;
    var old = Chart.getChart(canvas); if (old) old.destroy();
    new Chart(canvas, {type: chart.labels.length > 1 ? "line" : "bar", data: chart,
      options: {animation: false, responsive: true, interaction: {mode: "index", intersect: false},
                scales: {y: {beginAtZero: true}}}});
    canvas.dataset.rendered = "true";
  }

  function eventsPerMinute() {
    var canvas = document.getElementById("epm-chart");
    var next = data("epm-data");
    if (!window.Chart || !canvas || !next) return;
    var chart = Chart.getChart(canvas);
    if (!chart) {
      new Chart(canvas, {
        type: "bar",
        data: {labels: next.labels, datasets: [{label: "Events per minute", data: next.counts, backgroundColor: "#3a7bd5"}]},
        options: {animation: false, plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}}
      });
      return;
    }
    chart.data.labels = next.labels;
    chart.data.datasets[0].data = next.counts;
    chart.update();
  }

  function draw() { results(); eventsPerMinute(); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw); else draw();
  document.addEventListener("htmx:afterSettle", draw);
})();
