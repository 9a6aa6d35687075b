"""Source of demo_articles.jsonl (the demo municipality's schede informative). Run: python build_demo.py"""

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

U = "https://www.comune.borgoaurelio.it/servizi/"
A: list[dict[str, Any]] = []


def art(slug: str, topic: str, title: str, body: str, keywords: Iterable[str] = (), faq: Iterable[str] = ()) -> None:
    A.append(
        {
            "slug": slug,
            "title": title,
            "body": body,
            "topic": topic,
            "url": U + slug,
            "keywords": list(keywords),
            "phrasings": list(faq),
        }
    )


# --- anagrafe ---
art(
    "carta-identita-elettronica",
    "anagrafe",
    "Carta d'identità elettronica (CIE)",
    "La carta d'identità elettronica si richiede all'Ufficio Anagrafe su appuntamento, prenotabile online, dall'assistente virtuale o al telefono. Servono una fototessa recente su sfondo chiaro, il codice fiscale (tessera sanitaria) e la vecchia carta, o la denuncia in caso di furto o smarrimento. Il costo è di 22,21 euro, pagabili con pagoPA o carta allo sportello. La carta arriva per posta entro 6 giorni lavorativi all'indirizzo indicato. Per i minorenni serve la presenza di entrambi i genitori o l'assenso scritto per la validità all'espatrio. Vale 10 anni per i maggiorenni.".replace(
        "fototessa", "fototessera"
    ),
    ["CIE", "carta d'identità", "documento d'identità", "rinnovo"],
    [
        "come rinnovo la carta d'identità",
        "mi è scaduta la carta d'identità",
        "quanto costa la CIE",
        "ho perso la carta d'identità",
    ],
)
art(
    "cambio-residenza",
    "anagrafe",
    "Cambio di residenza e di indirizzo",
    "Chi si trasferisce a Borgo Aurelio da un altro comune, o cambia casa all'interno del comune, deve dichiararlo entro 20 giorni. La dichiarazione di residenza si presenta online sul portale ANPR con SPID o CIE, oppure allo sportello anagrafe o via PEC, con il documento d'identità di tutte le persone che si trasferiscono. La polizia locale verifica la dimora abituale entro 45 giorni; in assenza di comunicazioni contrarie il cambio è confermato. Chi viene dall'estero deve presentare anche il permesso di soggiorno se cittadino non comunitario.",
    ["residenza", "trasferimento", "ANPR", "cambio indirizzo"],
    [
        "mi sono trasferito, come cambio residenza",
        "ho cambiato casa cosa devo fare in comune",
        "spostare la residenza a Borgo Aurelio",
    ],
)
art(
    "certificati-anagrafici",
    "anagrafe",
    "Certificati anagrafici (residenza, stato di famiglia, nascita)",
    "I certificati di residenza, stato di famiglia, cittadinanza, esistenza in vita e nascita si scaricano gratis online dal portale ANPR con SPID, CIE o CNS, con lo stesso valore di quelli rilasciati allo sportello. Allo sportello anagrafe il certificato in carta libera costa 0,52 euro, in bollo 16 euro più 0,52. Ricorda che le pubbliche amministrazioni e i gestori di pubblici servizi non possono chiedere certificati: basta l'autocertificazione.",
    ["certificato", "stato di famiglia", "autocertificazione", "ANPR"],
    ["mi serve un certificato di residenza", "dove scarico lo stato di famiglia", "quanto costa un certificato"],
)
art(
    "autentica-firma-copie",
    "anagrafe",
    "Autentica di firma, copie e fotografie",
    "L'autentica di firma, di copie conformi e di fotografie si fa allo sportello anagrafe senza appuntamento, dal lunedì al venerdì dalle 9 alle 12. Serve un documento d'identità valido; per l'autentica di copia va portato l'originale. Si paga una marca da bollo da 16 euro salvo esenzioni previste dalla legge (ad esempio per pensioni o pratiche di lavoro) e 0,52 euro di diritti. L'autentica di firma per il passaggio di proprietà di veicoli si fa anche presso le agenzie di pratiche auto.",
    ["autentica", "copia conforme", "firma autenticata", "legalizzazione foto"],
    ["devo autenticare una firma", "come faccio una copia conforme"],
)
art(
    "iscrizione-aire",
    "anagrafe",
    "Iscrizione all'AIRE per chi si trasferisce all'estero",
    "I cittadini italiani che si trasferiscono all'estero per più di 12 mesi devono iscriversi all'AIRE (Anagrafe degli italiani residenti all'estero) tramite il consolato competente, entro 90 giorni dall'arrivo, anche online con il portale Fast It. Il consolato trasmette la pratica al Comune, che cancella la residenza in Italia. Per il rientro in Italia basta presentare una nuova dichiarazione di residenza.",
    ["AIRE", "estero", "consolato"],
    ["vado a vivere all'estero cosa devo fare"],
)
art(
    "cittadinanza",
    "anagrafe",
    "Cittadinanza italiana: giuramento e riconoscimento",
    "Dopo il decreto di concessione della cittadinanza italiana il cittadino deve prestare giuramento davanti all'Ufficiale di Stato Civile entro 6 mesi dalla notifica, su appuntamento. Servono il decreto, un documento d'identità e il permesso di soggiorno. Il riconoscimento della cittadinanza per discendenza (iure sanguinis) per chi risiede nel comune si chiede all'Ufficio Stato Civile con gli atti di nascita degli ascendenti tradotti e legalizzati.",
    ["giuramento", "cittadinanza", "iure sanguinis"],
    ["quando faccio il giuramento per la cittadinanza"],
)
art(
    "albo-scrutatori-presidenti",
    "anagrafe",
    "Albo degli scrutatori e dei presidenti di seggio",
    "Per lavorare ai seggi durante le elezioni bisogna essere iscritti all'albo degli scrutatori del Comune. La domanda si presenta dal 1° ottobre al 30 novembre di ogni anno all'Ufficio Elettorale, online o allo sportello; servono l'iscrizione nelle liste elettorali e almeno la licenza media. Per l'albo dei presidenti di seggio la domanda va presentata entro il 31 ottobre e serve il diploma di scuola superiore. La nomina avviene per sorteggio o designazione della commissione elettorale.",
    ["scrutatore", "seggio", "elezioni", "presidente di seggio"],
    ["vorrei fare lo scrutatore"],
)
art(
    "tessera-elettorale",
    "anagrafe",
    "Tessera elettorale: rilascio e duplicato",
    "La tessera elettorale permette di votare e ha 18 spazi per i timbri. Se è esaurita, smarrita o deteriorata si chiede un duplicato all'Ufficio Elettorale presentando un documento d'identità (e la vecchia tessera o la denuncia di smarrimento). Nei giorni delle elezioni l'ufficio resta aperto con orario continuato per il rilascio immediato.",
    ["tessera elettorale", "voto", "duplicato"],
    ["ho finito gli spazi della tessera elettorale"],
)
# --- stato civile ---
art(
    "matrimonio-civile",
    "stato-civile",
    "Matrimonio civile e pubblicazioni",
    "Per sposarsi in Comune si prenotano le pubblicazioni di matrimonio all'Ufficio Stato Civile, presentandosi entrambi con i documenti d'identità; le pubblicazioni restano affisse online per 8 giorni e il matrimonio può essere celebrato dal quarto giorno successivo e entro 180 giorni. Il rito civile si celebra nella Sala consiliare o a Villa Aurelia, con una tariffa che varia da 100 a 600 euro secondo la sala e il giorno. Servono due testimoni maggiorenni con documento.",
    ["matrimonio", "sposarsi", "pubblicazioni", "nozze"],
    ["come ci sposiamo in comune", "quanto costa sposarsi in comune"],
)
art(
    "unioni-civili",
    "stato-civile",
    "Unioni civili e convivenze di fatto",
    "Due persone maggiorenni dello stesso sesso possono costituire un'unione civile davanti all'Ufficiale di Stato Civile, con una richiesta congiunta e la successiva costituzione entro 180 giorni. Le convivenze di fatto si registrano all'Ufficio Anagrafe con una dichiarazione firmata da entrambi i conviventi residenti allo stesso indirizzo; la registrazione è gratuita.",
    ["unione civile", "convivenza di fatto"],
    [],
)
art(
    "dichiarazione-nascita",
    "stato-civile",
    "Dichiarazione di nascita",
    "La nascita si dichiara entro 3 giorni in ospedale oppure entro 10 giorni all'Ufficio Stato Civile del Comune di nascita o di residenza dei genitori. Serve l'attestazione di nascita rilasciata dall'ospedale e il documento dei genitori. Il codice fiscale del neonato viene attribuito automaticamente e arriva a casa con la tessera sanitaria.",
    ["nascita", "neonato", "atto di nascita"],
    ["è nato mio figlio cosa devo fare"],
)
art(
    "cremazione",
    "stato-civile",
    "Cremazione e dispersione delle ceneri",
    "L'autorizzazione alla cremazione è rilasciata dall'Ufficiale di Stato Civile del Comune di decesso, su richiesta del coniuge o dei parenti più prossimi, o in base alla volontà scritta del defunto o all'iscrizione a una società di cremazione. Serve il certificato del medico necroscopo. La dispersione delle ceneri è permessa in natura o nel giardino delle rimembranze del cimitero comunale solo se il defunto lo ha disposto per iscritto; l'affidamento dell'urna ai familiari va autorizzato.",
    ["cremazione", "ceneri", "urna", "funerale"],
    ["come si disperdono le ceneri di un parente"],
)
art(
    "lampade-votive-cimitero",
    "stato-civile",
    "Cimitero: concessioni e lampade votive",
    "Le concessioni di loculi, ossari e tombe di famiglia nel cimitero comunale si chiedono all'Ufficio Servizi Cimiteriali. Il canone delle lampade votive si paga ogni anno con l'avviso pagoPA inviato a febbraio; per attivare o disdire una lampada votiva si compila il modulo online. Il cimitero è aperto tutti i giorni dalle 8 alle 17 (fino alle 19 da aprile a settembre).",
    ["cimitero", "loculo", "lampada votiva"],
    ["orari del cimitero"],
)
# --- tributi ---
art(
    "tari-tassa-rifiuti",
    "tributi",
    "TARI, la tassa sui rifiuti",
    "La TARI è dovuta da chi possiede o occupa locali o aree in grado di produrre rifiuti. Va dichiarata all'Ufficio Tributi entro 90 giorni dall'inizio dell'occupazione (nuova casa, cambio di residenza, apertura di un'attività) e cessata entro lo stesso termine. Il Comune invia l'avviso di pagamento pagoPA con due rate, a maggio e a novembre. Sono previste riduzioni per compostaggio domestico e per nuclei con ISEE basso.",
    ["TARI", "tassa rifiuti", "spazzatura", "immondizia"],
    ["quando si paga la tassa sui rifiuti", "come dichiaro la TARI per la nuova casa"],
)
art(
    "imu",
    "tributi",
    "IMU, imposta municipale sugli immobili",
    "L'IMU si paga sugli immobili diversi dall'abitazione principale (seconde case, negozi, terreni edificabili), e sulle abitazioni principali di lusso (categorie A/1, A/8, A/9). Si versa con il modello F24 in due rate: acconto entro il 16 giugno e saldo entro il 16 dicembre. Le aliquote deliberate dal Comune e il calcolatore online sono sul sito; l'Ufficio Tributi aiuta nel calcolo su appuntamento.",
    ["IMU", "seconda casa", "F24", "imposta immobili"],
    ["quanto pago di imu sulla seconda casa"],
)
art(
    "pagopa-avvisi",
    "tributi",
    "Pagare un avviso pagoPA",
    "Gli avvisi di pagamento pagoPA del Comune (TARI, mensa, rette, multe, certificati) si pagano online dal portale dei pagamenti del Comune, con l'app IO, in banca, alle poste, negli sportelli ATM abilitati o nelle tabaccherie e ricevitorie. Servono il codice avviso di 18 cifre e il codice fiscale dell'ente creditore indicati sull'avviso. La ricevuta telematica vale come quietanza.",
    ["pagoPA", "avviso di pagamento", "app IO", "bollettino"],
    ["come pago il bollettino del comune"],
)
art(
    "rateizzazione-tributi",
    "tributi",
    "Rateizzare tributi e avvisi di accertamento",
    "Chi è in difficoltà economica può chiedere di rateizzare gli avvisi di accertamento dei tributi comunali superiori a 100 euro, con una domanda all'Ufficio Tributi prima della scadenza. Si possono ottenere fino a 36 rate mensili secondo l'importo; oltre 10.000 euro può essere chiesta una garanzia. Il mancato pagamento di due rate fa decadere il piano.",
    ["rate", "rateizzazione", "dilazione", "accertamento"],
    ["posso pagare a rate un accertamento"],
)
art(
    "canone-unico-patrimoniale",
    "tributi",
    "Canone unico: pubblicità e occupazione di suolo pubblico",
    "Il canone unico patrimoniale sostituisce TOSAP e imposta sulla pubblicità. È dovuto per insegne, cartelli e per l'occupazione di suolo pubblico con dehors, ponteggi, traslochi o banchetti. L'occupazione va autorizzata prima con una domanda all'Ufficio Tecnico almeno 15 giorni prima (5 per i traslochi); il canone si calcola su superficie, durata e zona.",
    ["suolo pubblico", "dehors", "insegna", "TOSAP", "occupazione"],
    ["devo mettere un ponteggio sulla strada", "permesso per il trasloco sulla via"],
)
art(
    "multe-contravvenzioni",
    "tributi",
    "Multe: pagamento, ricorso e punti",
    "Le sanzioni del codice della strada elevate dalla Polizia Locale si pagano con l'avviso pagoPA allegato al verbale; entro 5 giorni dalla notifica si ha lo sconto del 30%. Contro il verbale si può fare ricorso al Prefetto entro 60 giorni o al Giudice di pace entro 30 giorni. Per visionare le foto dell'infrazione si chiede appuntamento al Comando di Polizia Locale.",
    ["multa", "verbale", "contravvenzione", "ricorso", "polizia locale"],
    ["ho preso una multa come faccio ricorso"],
)
# --- scuola ---
art(
    "iscrizione-mensa-scolastica",
    "scuola",
    "Mensa scolastica: iscrizione e menù",
    "L'iscrizione alla mensa delle scuole dell'infanzia, primarie e secondarie di primo grado si fa online dal 1° giugno al 15 luglio per l'anno scolastico successivo, con SPID o CIE. Le diete speciali per allergie o motivi religiosi si chiedono con il certificato medico o la richiesta dei genitori. I menù sono approvati dalla ASL e pubblicati sul sito. Il pasto si paga con ricarica prepagata tramite pagoPA.",
    ["mensa", "refezione", "dieta speciale", "buoni pasto"],
    ["come iscrivo mio figlio alla mensa", "mio figlio è celiaco, la mensa fa la dieta?"],
)
art(
    "esenzione-tariffe-mensa",
    "scuola",
    "Riduzioni ed esenzioni per la mensa scolastica",
    "Le famiglie residenti con ISEE fino a 8.000 euro possono chiedere l'esenzione dalla tariffa della mensa; tra 8.000 e 20.000 euro sono previste tariffe ridotte, e dal secondo figlio iscritto uno sconto del 20%. La domanda si presenta online insieme all'iscrizione, indicando l'ISEE in corso di validità; le richieste tardive valgono dal mese successivo.",
    ["esenzione", "ISEE", "riduzione", "sconto mensa"],
    ["pago meno la mensa se ho l'isee basso?"],
)
art(
    "trasporto-scolastico",
    "scuola",
    "Trasporto scolastico (scuolabus)",
    "Il servizio di scuolabus è riservato agli alunni residenti nelle frazioni e nelle zone lontane dai plessi scolastici. L'iscrizione si fa online entro il 31 luglio; le fermate e gli orari sono comunicati a settembre. La tariffa annuale è di 180 euro, con riduzioni in base all'ISEE. Un genitore o un delegato deve essere presente alla fermata per gli alunni della scuola primaria.",
    ["scuolabus", "trasporto scolastico", "pulmino"],
    ["c'è lo scuolabus per la scuola elementare?"],
)
art(
    "asilo-nido",
    "scuola",
    "Asilo nido comunale: domande e rette",
    "Il nido comunale Il Girasole accoglie bambini da 3 a 36 mesi. Le domande si presentano online dal 1° marzo al 30 aprile; la graduatoria è pubblicata a maggio e tiene conto di lavoro dei genitori, fratelli e situazioni di fragilità. La retta mensile dipende dall'ISEE, da 100 a 480 euro, e può essere coperta in parte dal bonus nido INPS.",
    ["nido", "asilo nido", "retta", "graduatoria"],
    ["come iscrivo mia figlia al nido"],
)
art(
    "centri-estivi",
    "scuola",
    "Centri estivi per bambini e ragazzi",
    "Da metà giugno a fine agosto il Comune organizza centri estivi per bambini dai 3 ai 14 anni, con attività sportive, laboratori e gite. Le iscrizioni si aprono ad aprile online, a settimane; la tariffa settimanale è di 70 euro, con riduzioni per ISEE e fratelli. I posti per bambini con disabilità prevedono un educatore di sostegno.",
    ["centro estivo", "campo estivo", "grest", "estate"],
    ["cosa fanno i bambini d'estate in comune"],
)
art(
    "cedole-libri-testo",
    "scuola",
    "Libri di testo gratuiti e borse di studio",
    "I libri di testo della scuola primaria sono gratuiti con la cedola libraria che il Comune invia alle famiglie residenti, da consegnare a una libreria convenzionata. Per la scuola secondaria la Regione concede un contributo per l'acquisto dei libri alle famiglie con ISEE fino a 15.748 euro: la domanda si presenta al Comune entro il 30 settembre.",
    ["libri di testo", "cedola libraria", "borsa di studio"],
    ["i libri della scuola elementare si pagano?"],
)
# --- sociale ---
art(
    "assegno-unico-bonus-famiglie",
    "sociale",
    "Sostegni alle famiglie e bonus",
    "Il Segretariato sociale del Comune informa e orienta su assegno unico universale (domanda all'INPS), bonus sociali per luce, gas e acqua (riconosciuti automaticamente con l'ISEE) e contributi comunali per le famiglie in difficoltà. Per un colloquio con l'assistente sociale si prenota un appuntamento; serve l'ISEE aggiornato.",
    ["bonus", "assegno unico", "contributi", "famiglie"],
    ["che aiuti ci sono per le famiglie con figli"],
)
art(
    "contributo-affitto",
    "sociale",
    "Contributo per l'affitto e morosità incolpevole",
    "Gli inquilini residenti con contratto registrato e ISEE fino a 15.000 euro possono chiedere il contributo regionale per il pagamento dell'affitto partecipando al bando comunale, di solito aperto in primavera. Chi ha ricevuto uno sfratto per morosità dovuta a perdita del lavoro o malattia può accedere al fondo per la morosità incolpevole.",
    ["affitto", "sfratto", "contributo affitto", "canone di locazione"],
    ["non riesco a pagare l'affitto"],
)
art(
    "casa-popolare-erp",
    "sociale",
    "Case popolari (edilizia residenziale pubblica)",
    "Gli alloggi di edilizia residenziale pubblica si assegnano con un bando pubblicato ogni due anni. Possono partecipare i residenti o chi lavora nel comune, con ISEE entro i limiti regionali e senza proprietà di altri alloggi adeguati. La graduatoria considera reddito, componenti del nucleo, disabilità e sfratti. Per informazioni e per la domanda si prenota un appuntamento con l'Ufficio Casa.",
    ["casa popolare", "ERP", "alloggio", "bando casa"],
    ["come faccio ad avere una casa popolare"],
)
art(
    "assistenza-domiciliare-anziani",
    "sociale",
    "Assistenza domiciliare per anziani e persone fragili",
    "Il servizio di assistenza domiciliare aiuta anziani e persone non autosufficienti nella cura della persona, nella casa e nelle commissioni. Si attiva su richiesta al Servizio Sociale, dopo una valutazione dell'assistente sociale; la quota a carico dell'utente dipende dall'ISEE. Sono disponibili anche pasti a domicilio e telesoccorso.",
    ["anziani", "badante", "assistenza domiciliare", "pasti a domicilio", "telesoccorso"],
    ["mia madre anziana ha bisogno di aiuto in casa"],
)
art(
    "contrassegno-disabili",
    "mobilita",
    "Contrassegno di parcheggio per persone con disabilità",
    "Il contrassegno europeo per il parcheggio delle persone con disabilità si chiede alla Polizia Locale con il certificato dell'ufficio medico legale della ASL che attesta la ridotta capacità di deambulazione, una fototessera e un documento. Vale 5 anni (o per la durata della disabilità temporanea) ed è rinnovabile con il certificato del medico curante. Permette di sostare negli stalli riservati e di accedere alla ZTL.",
    ["contrassegno disabili", "pass invalidi", "parcheggio disabili"],
    ["come ottengo il pass per il parcheggio invalidi"],
)
art(
    "sportello-lavoro",
    "sociale",
    "Sportello lavoro e orientamento",
    "Lo Sportello lavoro del Comune, in collaborazione con il Centro per l'impiego, aiuta a scrivere il curriculum, cercare offerte, iscriversi a corsi di formazione e tirocini. Riceve su appuntamento il martedì e il giovedì dalle 9 alle 13. Per la dichiarazione di immediata disponibilità e la NASpI ci si rivolge al Centro per l'impiego o all'INPS.",
    ["lavoro", "curriculum", "offerte di lavoro", "centro per l'impiego"],
    ["cerco lavoro, mi potete aiutare"],
)
art(
    "contributi-associazioni",
    "urp",
    "Contributi e patrocinio alle associazioni",
    "Le associazioni iscritte all'albo comunale possono chiedere contributi per attività di interesse pubblico partecipando al bando annuale, e il patrocinio gratuito per singoli eventi. La richiesta di patrocinio va presentata almeno 30 giorni prima dell'evento con una descrizione dell'iniziativa; serve l'identità verificata del legale rappresentante (SPID o CIE). Il patrocinio permette di usare lo stemma del Comune.",
    ["patrocinio", "associazioni", "albo associazioni", "contributo"],
    ["come chiedo il patrocinio del comune per un evento"],
)
# --- mobilità ---
art(
    "ztl-permessi",
    "mobilita",
    "ZTL del centro storico: permessi e varchi",
    "La zona a traffico limitato del centro storico è attiva dalle 8 alle 20 dal lunedì al sabato ed è controllata da varchi elettronici. I residenti nella ZTL, i titolari di box e le persone con disabilità possono chiedere il permesso online alla Polizia Locale, indicando le targhe (fino a due). Il permesso costa 30 euro l'anno per i residenti. Per accessi occasionali (traslochi, carico e scarico) si chiede un permesso temporaneo almeno 2 giorni prima.",
    ["ZTL", "zona a traffico limitato", "varco", "permesso ZTL"],
    ["posso entrare in centro con la macchina", "come faccio il permesso per la ztl"],
)
art(
    "parcheggi-strisce-blu",
    "mobilita",
    "Parcheggi a pagamento e abbonamenti",
    "Nelle zone a strisce blu si paga dalle 8 alle 20 nei giorni feriali, con parchimetro, app o gratta e sosta. I residenti nelle zone a pagamento possono chiedere l'abbonamento annuale di 60 euro per un veicolo. Il parcheggio di piazza della Stazione è gratuito per i primi 30 minuti.",
    ["strisce blu", "parcheggio", "parchimetro", "sosta"],
    ["quanto costa parcheggiare in centro"],
)
art(
    "passo-carrabile",
    "mobilita",
    "Passo carrabile",
    "Per aprire un passo carrabile si presenta domanda all'Ufficio Tecnico con planimetria e foto dell'accesso; l'autorizzazione comprende il cartello segnaletico numerato. Il passo carrabile è soggetto al canone unico annuale. In caso di veicoli che bloccano il passo si chiama la Polizia Locale per la rimozione.",
    ["passo carrabile", "accesso carrabile", "cartello"],
    ["una macchina mi blocca il passo carrabile"],
)
art(
    "colonnine-ricarica",
    "mobilita",
    "Colonnine di ricarica per auto elettriche",
    "Nel territorio comunale ci sono 14 colonnine di ricarica pubbliche, la cui mappa è pubblicata sul sito; si usano con le app dei gestori o con carta di credito. Gli stalli di ricarica sono riservati ai veicoli elettrici in carica: la sosta oltre un'ora dopo la ricarica completa è sanzionata. Le aziende possono proporre nuove installazioni all'Ufficio Mobilità.",
    ["ricarica", "auto elettrica", "colonnina"],
    ["dove ricarico la macchina elettrica"],
)
art(
    "trasporto-pubblico",
    "mobilita",
    "Autobus urbani e abbonamenti agevolati",
    "Il servizio di autobus urbani collega il centro con le frazioni e la stazione ferroviaria, con corse ogni 30 minuti nei giorni feriali. Gli studenti e gli over 65 residenti con ISEE fino a 20.000 euro possono chiedere l'abbonamento annuale agevolato di 50 euro presentando domanda al Comune. Orari e percorsi sono sul sito dell'azienda di trasporto.",
    ["autobus", "abbonamento", "bus", "trasporto pubblico"],
    ["a che ora passa l'autobus per la stazione"],
)
art(
    "rimozione-auto-abbandonate",
    "segnalazioni",
    "Veicoli abbandonati",
    "Un veicolo che sembra abbandonato sulla strada pubblica (senza targa, danneggiato o fermo da mesi) si segnala all'URP o alla Polizia Locale indicando il luogo, il modello e, se visibile, la targa. La Polizia Locale verifica e, se il veicolo è abbandonato, ne dispone la rimozione a spese del proprietario.",
    ["auto abbandonata", "rottame", "veicolo abbandonato"],
    ["c'è una macchina abbandonata sotto casa"],
)
# --- ambiente ---
art(
    "raccolta-differenziata",
    "ambiente",
    "Raccolta differenziata porta a porta",
    "La raccolta porta a porta segue un calendario per zona: organico il lunedì e il giovedì, plastica e metalli il martedì, carta il mercoledì, vetro il venerdì, indifferenziato il sabato. I contenitori si espongono dalle 20 della sera precedente. Il calendario e il dizionario dei rifiuti sono sull'app del gestore e sul sito; i kit di sacchetti si ritirano all'ecosportello.",
    ["raccolta differenziata", "calendario rifiuti", "spazzatura", "sacchetti"],
    ["quando passa la plastica", "dove butto il vetro"],
)
art(
    "rifiuti-ingombranti",
    "ambiente",
    "Ritiro dei rifiuti ingombranti",
    "Mobili, materassi ed elettrodomestici si ritirano gratuitamente a domicilio, fino a 5 pezzi per volta, prenotando al numero verde del gestore o online. Si possono anche portare al centro di raccolta di via dell'Artigianato, aperto dal martedì al sabato dalle 8 alle 12 e il giovedì anche dalle 14 alle 17. Abbandonare i rifiuti in strada è punito con sanzioni fino a 3.000 euro.",
    ["ingombranti", "materasso", "mobili", "elettrodomestici", "isola ecologica"],
    ["come butto un vecchio divano"],
)
art(
    "abbandono-rifiuti",
    "segnalazioni",
    "Segnalare rifiuti abbandonati o cassonetti pieni",
    "Rifiuti abbandonati, cassonetti stracolmi o una raccolta non effettuata si segnalano all'URP con l'assistente virtuale, l'app o il numero verde, indicando il luogo esatto e, se possibile, una foto. Il gestore interviene di norma entro 48 ore; gli abbandoni ripetuti vengono controllati con fototrappole dalla Polizia Locale.",
    ["rifiuti abbandonati", "discarica abusiva", "cassonetto pieno"],
    ["hanno buttato dei sacchi di spazzatura in campagna"],
)
art(
    "verde-pubblico",
    "segnalazioni",
    "Manutenzione del verde pubblico",
    "Potature, sfalcio dell'erba nei parchi e nelle aiuole, alberi o rami pericolosi su strade e giardini comunali si segnalano all'URP. Gli interventi ordinari seguono un calendario stagionale (lo sfalcio da aprile a ottobre); quelli urgenti per pericolo vengono eseguiti entro 48 ore. Per tagliare un albero in un giardino privato serve l'autorizzazione dell'Ufficio Ambiente.",
    ["verde", "potatura", "sfalcio", "alberi", "parco", "giardini"],
    ["nel parco l'erba è troppo alta", "un albero sta per cadere"],
)
art(
    "compostaggio-domestico",
    "ambiente",
    "Compostaggio domestico e riduzione TARI",
    "Chi ha un giardino può ricevere gratis una compostiera per trasformare gli scarti di cucina e del verde in terriccio. Chi pratica il compostaggio domestico e si iscrive all'albo dei compostatori ha diritto a una riduzione del 20% della parte variabile della TARI. La domanda si presenta all'Ufficio Ambiente; sono previsti controlli a campione.",
    ["compostiera", "compost", "riduzione TARI"],
    ["come ho lo sconto sulla tari con il compost"],
)
art(
    "animali-anagrafe-canina",
    "ambiente",
    "Anagrafe canina e animali",
    "I cani vanno iscritti all'anagrafe canina con il microchip entro 60 giorni dalla nascita o dall'acquisizione, presso il veterinario o il servizio veterinario della ASL. Lo smarrimento o il ritrovamento di un cane si comunicano alla Polizia Locale. Il Comune gestisce con le associazioni il canile e le colonie feline registrate.",
    ["cane", "microchip", "anagrafe canina", "gatti", "canile"],
    ["ho trovato un cane per strada"],
)
art(
    "disinfestazione-zanzare",
    "ambiente",
    "Disinfestazione e zanzare",
    "Il Comune effettua trattamenti larvicidi contro la zanzara tigre nei tombini pubblici da aprile a ottobre e disinfestazioni contro topi e blatte negli spazi pubblici. I privati devono trattare i propri tombini e non lasciare ristagni d'acqua. Le segnalazioni di infestazioni in aree pubbliche si fanno all'URP.",
    ["zanzare", "topi", "ratti", "disinfestazione", "derattizzazione"],
    ["ci sono topi nel giardino pubblico"],
)
# --- edilizia ---
art(
    "permesso-lavori-casa",
    "edilizia",
    "Lavori in casa: CILA, SCIA e permesso di costruire",
    "I lavori di manutenzione ordinaria (tinteggiature, pavimenti, sostituzione sanitari) sono edilizia libera e non richiedono pratiche. La manutenzione straordinaria senza interventi sulle strutture richiede la CILA; gli interventi sulle parti strutturali, come un muro portante, richiedono la SCIA con il deposito del progetto strutturale; le nuove costruzioni e gli ampliamenti il permesso di costruire. Le pratiche si presentano online allo Sportello Unico Edilizia tramite un tecnico abilitato.",
    ["CILA", "SCIA", "permesso di costruire", "ristrutturazione", "lavori"],
    ["devo ristrutturare casa che pratica serve"],
)
art(
    "suap-attivita-commerciali",
    "edilizia",
    "Aprire un'attività: SUAP",
    "Per aprire, modificare o chiudere un'attività commerciale, artigianale o di somministrazione (bar, ristorante, negozio) si presenta la SCIA o la domanda di autorizzazione online allo Sportello Unico per le Attività Produttive (SUAP) tramite il portale impresainungiorno. Per i locali serve l'agibilità e la conformità urbanistica; per la somministrazione anche i requisiti professionali.",
    ["SUAP", "aprire negozio", "attività commerciale", "SCIA commerciale"],
    ["voglio aprire un bar, cosa devo fare"],
)
art(
    "accesso-atti-edilizi",
    "edilizia",
    "Accesso agli atti edilizi",
    "Per vedere o copiare pratiche edilizie (licenze, concessioni, condoni, agibilità) si presenta una richiesta di accesso agli atti allo Sportello Unico Edilizia indicando indirizzo, dati catastali e motivo. L'ufficio risponde entro 30 giorni; la visione costa 10 euro di diritti di ricerca e le copie si pagano a parte. Un tecnico può presentare la richiesta con delega del proprietario.",
    ["accesso agli atti", "pratiche edilizie", "condono", "agibilità"],
    ["devo vedere la licenza edilizia della mia casa"],
)
art(
    "certificato-destinazione-urbanistica",
    "edilizia",
    "Certificato di destinazione urbanistica (CDU)",
    "Il certificato di destinazione urbanistica indica cosa si può costruire su un terreno secondo il piano regolatore ed è necessario per vendere o dividere terreni. Si chiede all'Ufficio Urbanistica con i dati catastali e una marca da bollo da 16 euro più i diritti di segreteria; viene rilasciato entro 30 giorni e vale un anno.",
    ["CDU", "destinazione urbanistica", "terreno", "piano regolatore"],
    [],
)
art(
    "barriere-architettoniche",
    "edilizia",
    "Contributi per eliminare le barriere architettoniche",
    "Le persone con disabilità (o chi le ha a carico) possono chiedere un contributo per eliminare le barriere architettoniche nell'abitazione, come montascale, ascensori o bagni accessibili. La domanda si presenta al Comune entro il 1° marzo, prima di iniziare i lavori, con il certificato di invalidità e il preventivo.",
    ["barriere architettoniche", "montascale", "disabilità"],
    [],
)
# --- URP e servizi generali ---
art(
    "orari-urp",
    "urp",
    "URP: orari, contatti e cosa fa",
    "L'Ufficio Relazioni con il Pubblico, in piazza del Municipio 1, dà informazioni su tutti i servizi comunali, riceve segnalazioni, reclami e suggerimenti e aiuta a presentare le istanze. È aperto dal lunedì al venerdì dalle 8:30 alle 12:30 e il martedì e giovedì anche dalle 15 alle 17; telefono 0761 123456, e-mail urp@comune.borgoaurelio.it. L'assistente virtuale risponde a ogni ora.",
    ["URP", "orari", "contatti", "telefono comune"],
    ["a che ora apre il comune", "qual è il numero del comune"],
)
art(
    "reclami-suggerimenti",
    "urp",
    "Reclami, segnalazioni e suggerimenti",
    "Chi ritiene di aver ricevuto un servizio non adeguato può presentare un reclamo all'URP, online, con l'assistente virtuale, per e-mail o allo sportello. Il Comune risponde per iscritto entro 30 giorni. Le segnalazioni di disservizi (buche, illuminazione, rifiuti) ricevono un codice per seguirne lo stato.",
    ["reclamo", "lamentela", "suggerimento", "disservizio"],
    ["voglio fare un reclamo"],
)
art(
    "accesso-civico",
    "urp",
    "Accesso agli atti e accesso civico",
    "Chiunque può chiedere documenti e dati che il Comune deve pubblicare (accesso civico semplice) o altri documenti e dati detenuti dal Comune (accesso civico generalizzato, FOIA), senza motivare. L'accesso documentale agli atti di un procedimento richiede invece un interesse diretto e motivato. La risposta arriva entro 30 giorni; le copie sono gratuite se digitali.",
    ["accesso civico", "FOIA", "accesso agli atti", "trasparenza"],
    ["come chiedo una copia di un documento del comune"],
)
art(
    "spid-cie-accesso-servizi",
    "urp",
    "SPID e CIE per i servizi online",
    "I servizi online del Comune si usano con SPID, CIE o CNS. SPID si ottiene gratuitamente da uno dei gestori accreditati (anche con riconoscimento via webcam o alle poste). Con la carta d'identità elettronica e il PIN ricevuto alla consegna si accede dal telefono con l'app CieID. All'URP un operatore aiuta chi ha difficoltà con il digitale (Punto Digitale Facile).",
    ["SPID", "identità digitale", "CieID", "PIN"],
    ["non ho lo spid, come faccio"],
)
art(
    "wifi-pubblico",
    "urp",
    "Wi-Fi pubblico gratuito",
    "La rete Wi-Fi gratuita BorgoAurelio-Free è disponibile in piazza del Municipio, nella biblioteca, al parco della Rocca e alla stazione. Ci si registra una sola volta con il numero di cellulare e si naviga gratis fino a 4 ore al giorno; la rete fa parte di WiFi Italia.",
    ["wifi", "internet gratis", "connessione"],
    ["c'è internet gratis in piazza"],
)
art(
    "biblioteca",
    "urp",
    "Biblioteca comunale",
    "La biblioteca comunale di via dei Mille presta libri, film e riviste gratuitamente con la tessera, che si fa presentando un documento. Il prestito dura 30 giorni, rinnovabile. È aperta dal lunedì al sabato dalle 9 alle 19; ha sale studio, postazioni internet e il servizio di prestito digitale MLOL.",
    ["biblioteca", "prestito libri", "sala studio"],
    ["a che ora apre la biblioteca"],
)
art(
    "sale-comunali-palestre",
    "urp",
    "Sale comunali e palestre in uso",
    "Associazioni e cittadini possono usare le sale comunali per riunioni ed eventi e le palestre comunali in orario extrascolastico, prenotando su appuntamento con il centro prenotazioni. Le tariffe orarie partono da 15 euro per le sale e 20 euro per le palestre; sono previste riduzioni per le associazioni iscritte all'albo.",
    ["sala", "palestra", "prenotazione sala", "affitto palestra"],
    ["voglio affittare la palestra per giocare a calcetto"],
)
art(
    "oggetti-smarriti",
    "urp",
    "Oggetti smarriti e ritrovati",
    "Gli oggetti ritrovati nel territorio comunale vanno consegnati all'Ufficio Oggetti Smarriti presso il Comando di Polizia Locale, che li custodisce per un anno. Chi ha perso un oggetto può chiedere informazioni di persona o per telefono descrivendolo. Per i documenti d'identità persi serve la denuncia di smarrimento.",
    ["oggetti smarriti", "ho perso", "ritrovato"],
    ["ho perso il portafoglio in piazza"],
)
art(
    "buche-strade-illuminazione",
    "segnalazioni",
    "Buche stradali e illuminazione pubblica",
    "Buche, marciapiedi dissestati, segnaletica danneggiata e lampioni spenti si segnalano all'URP con l'assistente virtuale o l'app, indicando la via e il numero civico più vicino; una foto aiuta. Gli interventi urgenti per la sicurezza vengono eseguiti entro 24 ore, gli altri sono programmati dall'Ufficio Tecnico. Si riceve un codice per seguire la segnalazione.",
    ["buca", "strada", "lampione", "illuminazione", "marciapiede"],
    ["c'è una buca enorme in via Roma", "il lampione davanti casa è spento"],
)
art(
    "protezione-civile-allerta",
    "urp",
    "Protezione civile e allerte meteo",
    "Le allerte meteo della Protezione civile regionale sono pubblicate sul sito e inviate con l'app e gli SMS del Comune a chi si iscrive al servizio di messaggistica. In caso di allerta rossa il sindaco può chiudere scuole e parchi. Il piano comunale di protezione civile indica le aree di attesa per ogni quartiere.",
    ["allerta meteo", "protezione civile", "emergenza"],
    ["domani chiudono le scuole per l'allerta?"],
)
art(
    "acqua-servizio-idrico",
    "urp",
    "Acqua: guasti, bollette e allacci",
    "Il servizio idrico è gestito dalla società Acque del Lazio Nord, non dal Comune: per guasti, perdite, bollette, volture e nuovi allacci si contatta il numero verde del gestore, attivo 24 ore su 24 per i guasti. Le famiglie con ISEE basso ricevono automaticamente il bonus idrico in bolletta.",
    ["acqua", "bolletta acqua", "perdita", "gestore idrico"],
    ["manca l'acqua in casa", "c'è una perdita d'acqua in strada"],
)
art(
    "prenotare-appuntamento",
    "urp",
    "Prenotare un appuntamento agli sportelli",
    "Gli appuntamenti con anagrafe (carta d'identità), stato civile, tributi, servizi sociali e per l'uso delle palestre si prenotano online, con l'assistente virtuale in chat, via SMS o Telegram, o telefonando all'URP. Si riceve un codice di prenotazione e un promemoria il giorno prima; l'appuntamento si può disdire fino a 24 ore prima.",
    ["appuntamento", "prenotazione", "sportello", "disdire"],
    ["vorrei prenotare un appuntamento", "come disdico la prenotazione"],
)
art(
    "istanze-online",
    "urp",
    "Presentare un'istanza al Comune",
    "Le istanze (domande formali al Comune, come accesso agli atti, occupazione di suolo pubblico, patrocinio) si presentano online o con l'assistente virtuale, oppure all'URP. Ogni istanza riceve un numero di protocollo e una ricevuta; il cittadino è avvisato di ogni passaggio, e l'ufficio deve concludere il procedimento entro 30 giorni salvo termini diversi stabiliti dalla legge.",
    ["istanza", "domanda", "protocollo", "ricevuta"],
    ["come presento una domanda al comune", "a che punto è la mia pratica"],
)
art(
    "tributi-ufficio-orari",
    "tributi",
    "Ufficio Tributi: orari e ricevimento",
    "L'Ufficio Tributi di via Roma 12 riceve su appuntamento il lunedì, mercoledì e venerdì dalle 9 alle 12:30 e il giovedì dalle 15 alle 17. Per informazioni brevi su TARI e IMU si può scrivere a tributi@comune.borgoaurelio.it indicando il codice fiscale del contribuente.",
    ["ufficio tributi", "orari tributi"],
    [],
)
art(
    "servizi-sociali-colloquio",
    "sociale",
    "Colloquio con l'assistente sociale",
    "Per un colloquio con l'assistente sociale del Segretariato sociale si prenota un appuntamento; i colloqui si tengono il martedì e il giovedì in via Garibaldi 4. L'assistente sociale ascolta la situazione, orienta verso i servizi e i contributi disponibili e, se serve, avvia una presa in carico. Il servizio è gratuito e riservato.",
    ["assistente sociale", "servizi sociali", "colloquio"],
    ["vorrei parlare con un assistente sociale"],
)

out = Path(__file__).with_name("demo_articles.jsonl")
out.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in A), encoding="utf-8")
print(len(A), "articles ->", out)
