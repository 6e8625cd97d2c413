// Starts GraphiQL (loaded from this server, see playground.rs) with the configuration the page
// carries: the endpoint, the pre-filled headers, and the example tabs. Tabs and headers are
// kept in memory, not in localStorage, so a reload never brings back a stale key.
//
// GraphiQL fetches the schema (introspection) as the page loads, before its header editor
// exists, and sends that request without headers: the server refused it (401), the result pane
// opened on UNAUTHENTICATED, and the documentation explorer and completion had no schema. So
// a request that comes without headers carries the pre-filled ones; one that comes with the
// header editor's headers carries those.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("playground-config").textContent);
  var memory = {};
  var storage = {
    getItem: function (key) { return Object.prototype.hasOwnProperty.call(memory, key) ? memory[key] : null; },
    setItem: function (key, value) { memory[key] = String(value); },
    removeItem: function (key) { delete memory[key]; },
    clear: function () { memory = {}; },
    get length() { return Object.keys(memory).length; },
  };
  var prefilled = {};
  try {
    prefilled = JSON.parse(config.headers || "{}");
  } catch (e) {
    prefilled = {};
  }
  var send = GraphiQL.createFetcher({ url: config.endpoint });
  var fetcher = function (params, options) {
    var given = options && options.headers;
    var headers = given && Object.keys(given).length > 0 ? given : prefilled;
    return send(params, Object.assign({}, options, { headers: headers }));
  };
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: config.tabs,
      defaultQuery: config.tabs[0].query,
      defaultHeaders: config.headers,
      headers: config.headers,
      defaultEditorToolsVisibility: true,
      shouldPersistHeaders: false,
      storage: storage,
    })
  );
})();
