// Starts GraphiQL (loaded from this server, see playground.rs) with the configuration the page
// carries: the endpoint, the pre-filled headers, and the example tabs. Tabs and headers are
// kept in memory, not in localStorage, so a reload never brings back a stale key.
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
  var root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: GraphiQL.createFetcher({ url: config.endpoint }),
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
