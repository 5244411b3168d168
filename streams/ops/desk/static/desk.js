// leadstream desk: reloads <main data-live="URL"> every 5 s without reloading the page.
// body[data-ready] and body[data-refreshes] let a test see that the script ran.
(function () {
  "use strict";
  var main = document.getElementById("main");
  var url = main && main.getAttribute("data-live");
  var refreshes = 0;
  document.body.setAttribute("data-ready", "yes");
  document.body.setAttribute("data-refreshes", "0");
  if (!url) { return; }
  function refresh() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (html) {
        main.innerHTML = html;
        refreshes += 1;
        document.body.setAttribute("data-refreshes", String(refreshes));
      })
      .catch(function () { /* keep the last view; the next round tries again */ });
  }
  setInterval(refresh, 5000);
})();
