/** Name, place and school lists for the demo tenant generator. Fictional people; real, common names and places. */

export const SWEDISH_GIVEN_NAMES: readonly string[] = [
  "Agnes", "Albin", "Alexander", "Alice", "Alma", "Alva", "Alvin", "Amanda", "Anders", "André", "Andreas", "Anna",
  "Anna-Karin", "Annika", "Anton", "Arvid", "Astrid", "Axel", "Barbro", "Bengt", "Berit", "Birgitta", "Björn",
  "Bo", "Britt", "Carina", "Carl", "Caroline", "Cecilia", "Charlotta", "Christer", "Dag", "Dan", "Daniel", "Ebba",
  "Edvin", "Elias", "Elin", "Elisabet", "Ella", "Ellen", "Elsa", "Elvira", "Emil", "Emilia", "Emma", "Erik",
  "Evelina", "Felicia", "Filip", "Frida", "Fredrik", "Gabriel", "Gösta", "Gunilla", "Gunnar", "Gustav", "Göran",
  "Hampus", "Hanna", "Hans", "Harald", "Hedda", "Helena", "Henrik", "Hilda", "Hjalmar", "Hugo", "Ida", "Ingrid",
  "Isak", "Ivar", "Jakob", "Jan", "Jenny", "Jesper", "Joakim", "Johan", "Johanna", "Jonas", "Josefin", "Julia",
  "Kajsa", "Karin", "Karl", "Kerstin", "Kevin", "Kristina", "Lars", "Leo", "Liam", "Lilly", "Linn", "Linnéa",
  "Lisa", "Love", "Lovisa", "Ludvig", "Lukas", "Magnus", "Maja", "Malin", "Malte", "Margareta", "Maria", "Marie",
  "Martin", "Mats", "Matilda", "Mattias", "Max", "Meja", "Mikael", "Moa", "Molly", "My", "Nils", "Noah", "Nora",
  "Olivia", "Olle", "Oscar", "Otto", "Per", "Peter", "Petra", "Pontus", "Ragnar", "Rasmus", "Rebecka", "Rut",
  "Saga", "Sam", "Sara", "Selma", "Signe", "Sigrid", "Siv", "Sixten", "Sofia", "Sten", "Stig", "Sune", "Svea",
  "Sven", "Tage", "Theo", "Thea", "Therese", "Thomas", "Tilda", "Tindra", "Tobias", "Tove", "Tuva", "Ture",
  "Ulf", "Ulla", "Ulrika", "Valter", "Vera", "Viggo", "Viktor", "Vilgot", "Vilma", "Wilhelm", "Ylva", "Yngve",
  "Åke", "Åsa", "Ängla", "Örjan", "Östen", "Märta", "Måns", "Sölve", "Björg", "Göta", "Sören", "Jöns", "Ebbe",
  "Dagny", "Solveig", "Maud", "Mona", "Lena", "Gun", "Inga", "Torbjörn", "Håkan", "Kjell", "Leif", "Rune", "Ove",
  "Roger", "Tommy", "Mikaela", "Jessica", "Sandra", "Camilla", "Pernilla", "Helén", "Agneta", "Eva", "Lotta",
  "Elliot", "Melvin", "Ebba-Lo", "Nellie", "Novalie", "Juni", "Iris", "Stella", "Minna", "Tyra", "Majken", "Leia",
  "Loke", "Frans", "Harry", "Vidar", "Ville", "Melker", "Colin", "Adam", "Ali", "Omar", "Yusuf", "Amira", "Leyla",
  "Zeynep", "Mohammed", "Ahmed", "Fatima", "Aisha", "Hassan", "Nour", "Mustafa", "Ibrahim",
];

export const ENGLISH_GIVEN_NAMES: readonly string[] = [
  "Abigail", "Adrian", "Alfie", "Amelia", "Archie", "Arthur", "Ava", "Benjamin", "Bethany", "Brandon", "Caleb",
  "Charles", "Charlie", "Charlotte", "Chloe", "Connor", "Daisy", "David", "Dylan", "Edward", "Eleanor", "Eliza",
  "Elizabeth", "Emily", "Ethan", "Evie", "Florence", "Freddie", "Freya", "George", "Georgia", "Grace", "Harriet",
  "Harrison", "Henry", "Imogen", "Isabella", "Isla", "Jack", "Jacob", "James", "Jessica", "Joseph", "Joshua",
  "Katie", "Kieran", "Lauren", "Lewis", "Lily", "Logan", "Louie", "Lucy", "Luke", "Mason", "Matthew", "Megan",
  "Mia", "Michael", "Millie", "Molly", "Nathan", "Niamh", "Oliver", "Olivia", "Owen", "Phoebe", "Poppy", "Rebecca",
  "Reuben", "Rhys", "Robert", "Rosie", "Ruby", "Ryan", "Samuel", "Scarlett", "Sebastian", "Sienna", "Sophie",
  "Stanley", "Teddy", "Thomas", "Toby", "Tommy", "William", "Zoe", "Zara", "Aidan", "Bronwyn", "Ciara", "Declan",
  "Eilidh", "Fraser", "Gareth", "Hamish", "Iona", "Morgan", "Siobhan", "Rory", "Callum", "Finlay", "Seren", "Alys",
  "Noel", "Zoë", "Chloë", "Renée", "Joséphine",
];

export const SWEDISH_SURNAMES: readonly string[] = [
  "Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson",
  "Gustafsson", "Pettersson", "Jonsson", "Jansson", "Hansson", "Bengtsson", "Jönsson", "Lindberg", "Jakobsson",
  "Magnusson", "Olofsson", "Lindström", "Lindqvist", "Lindgren", "Axelsson", "Berg", "Bergström", "Lundberg",
  "Lind", "Lundgren", "Lundqvist", "Mattsson", "Berglund", "Fredriksson", "Sandberg", "Henriksson", "Forsberg",
  "Sjöberg", "Wallin", "Engström", "Eklund", "Danielsson", "Lundin", "Håkansson", "Björk", "Bergman", "Gunnarsson",
  "Holm", "Wikström", "Samuelsson", "Isaksson", "Fransson", "Bergqvist", "Nyström", "Holmberg", "Arvidsson",
  "Löfgren", "Söderberg", "Nyberg", "Blomqvist", "Claesson", "Nordström", "Mårtensson", "Lundström", "Viklund",
  "Björklund", "Eliasson", "Pålsson", "Berggren", "Sandström", "Lund", "Nordin", "Ström", "Åberg", "Hermansson",
  "Ekström", "Holmgren", "Sundberg", "Hedlund", "Dahlberg", "Hellström", "Sjögren", "Abrahamsson", "Falk",
  "Martinsson", "Öberg", "Andreasson", "Strömberg", "Månsson", "Åkesson", "Hansen", "Norberg", "Lindholm",
  "Dahl", "Jonasson", "Åström", "Ek", "Öhman", "Sundström", "Nordqvist", "Lindblom", "Hedberg", "Göransson",
  "Ivarsson", "Ottosson", "Lindahl", "Sundqvist", "Åkerlund", "Ågren", "Törnqvist", "Östlund", "Löwgren",
  "Rydén", "Sjöström", "Wahlström", "Boström", "Forsgren", "Hägglund", "Kjellberg", "Lönnqvist", "Nykvist",
  "Strand", "Söderström", "Tengvall", "Vesterberg", "Wennerström", "Zetterlund", "Älvström", "Ängqvist",
  "Öqvist", "Ljungberg", "Ljunggren", "Blom", "Borg", "Dahlgren", "Ekberg", "Engberg", "Fors", "Grahn",
  "Hallberg", "Hultgren", "Höglund", "Kvist", "Lilja", "Malmberg", "Malm", "Nordlund", "Rosén", "Sahlin",
  "Stenberg", "Thorén", "Wiberg", "Åhlund", "Af Klercker", "Von Platen", "Yilmaz", "Ali", "Mohammed", "Hussein",
  "Nguyen", "Kaya", "Rahimi", "Haddad", "Novak", "Korhonen", "Virtanen", "Mäkinen",
];

export const ENGLISH_SURNAMES: readonly string[] = [
  "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Robinson", "Wright",
  "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Jackson", "Clarke", "Patel",
  "Khan", "Lewis", "James", "Phillips", "Mason", "Mitchell", "Rose", "Davis", "Rodriguez", "Cox", "Alexander",
  "Morgan", "Moore", "Martin", "Price", "King", "Lee", "Harris", "Scott", "Cooper", "Turner", "Hill", "Baker",
  "Ward", "Morris", "Carter", "Harrison", "Young", "Allen", "Edwards", "Hughes", "Parker", "Bennett", "Collins",
  "Stewart", "Murphy", "Kelly", "Campbell", "Anderson", "Watson", "Shaw", "Chapman", "Ellis", "Richardson",
  "Fletcher", "Barker", "Reid", "Murray", "Gray", "Graham", "Hunt", "Palmer", "Holmes", "Mills", "Foster",
  "Owen", "Knight", "Russell", "Lloyd", "Butler", "Marshall", "Webb", "Simpson", "Rogers", "Fisher", "Cole",
  "Kennedy", "Gibson", "Ferguson", "Pearson", "Fraser", "Whitehead", "Sutherland", "Macdonald", "O'Brien",
  "O'Connor", "McKenzie", "Fitzgerald", "Brontë", "Ashworth", "Sinclair",
];

export interface Town {
  city: string;
  /** Swedish towns: the first three digits of the postal code; English towns: the outward code's letters. */
  postal: readonly string[];
  english?: boolean;
}

export const SWEDISH_TOWNS: readonly Town[] = [
  { city: "Stockholm", postal: ["111", "113", "114", "116", "118", "120", "122", "124", "126", "128"] },
  { city: "Göteborg", postal: ["411", "413", "414", "416", "417", "418", "421", "426"] },
  { city: "Malmö", postal: ["211", "212", "214", "216", "217", "218"] },
  { city: "Uppsala", postal: ["751", "752", "753", "754", "756", "757"] },
  { city: "Västerås", postal: ["721", "722", "723", "724"] },
  { city: "Örebro", postal: ["701", "702", "703", "704"] },
  { city: "Linköping", postal: ["581", "582", "583", "584"] },
  { city: "Helsingborg", postal: ["252", "253", "254", "256"] },
  { city: "Jönköping", postal: ["551", "553", "554", "556"] },
  { city: "Norrköping", postal: ["602", "603", "604", "605"] },
  { city: "Lund", postal: ["222", "223", "224", "226"] },
  { city: "Umeå", postal: ["903", "904", "906", "907"] },
  { city: "Gävle", postal: ["802", "803", "804", "806"] },
  { city: "Borås", postal: ["503", "504", "506", "507"] },
  { city: "Södertälje", postal: ["151", "152", "153"] },
  { city: "Eskilstuna", postal: ["632", "633", "635"] },
  { city: "Karlstad", postal: ["652", "653", "654", "656"] },
  { city: "Täby", postal: ["183", "187"] },
  { city: "Växjö", postal: ["352", "353", "355"] },
  { city: "Halmstad", postal: ["302", "303", "305"] },
  { city: "Luleå", postal: ["972", "973", "974", "975"] },
  { city: "Sundsvall", postal: ["852", "853", "854", "856"] },
  { city: "Östersund", postal: ["831", "832", "833"] },
  { city: "Kiruna", postal: ["981"] },
  { city: "Solna", postal: ["169", "171"] },
  { city: "Nacka", postal: ["131", "132"] },
  { city: "Falun", postal: ["791"] },
  { city: "Visby", postal: ["621"] },
];

export const ENGLISH_TOWNS: readonly Town[] = [
  { city: "Oxford", postal: ["OX1", "OX2", "OX3", "OX4"], english: true },
  { city: "Cambridge", postal: ["CB1", "CB2", "CB3", "CB4"], english: true },
  { city: "York", postal: ["YO1", "YO10", "YO24", "YO31"], english: true },
  { city: "Bath", postal: ["BA1", "BA2"], english: true },
  { city: "Brighton", postal: ["BN1", "BN2", "BN3"], english: true },
  { city: "Leeds", postal: ["LS1", "LS6", "LS8"], english: true },
  { city: "Norwich", postal: ["NR1", "NR2", "NR3"], english: true },
  { city: "Exeter", postal: ["EX1", "EX2", "EX4"], english: true },
  { city: "Durham", postal: ["DH1"], english: true },
];

export const SWEDISH_STREETS: readonly string[] = [
  "Storgatan", "Drottninggatan", "Kungsgatan", "Vasagatan", "Skolgatan", "Kyrkogatan", "Järnvägsgatan",
  "Södra vägen", "Björkvägen", "Ekvägen", "Granvägen", "Tallvägen", "Lindvägen", "Parkvägen", "Ängsvägen",
  "Solrosvägen", "Sjövägen", "Bäckvägen", "Hamngatan", "Nygatan", "Östra Långgatan", "Västra Hamngatan",
  "Torggatan", "Åsgatan", "Källvägen", "Rönnvägen", "Hagagatan", "Fabriksgatan", "Trädgårdsgatan", "Allégatan",
  "Götgatan", "Sveavägen", "Odengatan", "Kvarngatan", "Mästargatan", "Älvsborgsvägen", "Öresundsvägen",
];

export const ENGLISH_STREETS: readonly string[] = [
  "High Street", "Station Road", "Church Lane", "Victoria Road", "Mill Lane", "Park Avenue", "London Road",
  "The Green", "Queens Road", "Manor Close", "Kings Road", "Orchard Way", "St John's Street", "Castle Street",
];

/** Swedish and English schools and municipalities; the domain slug is derived from the name. */
export const SCHOOL_NAMES: readonly string[] = [
  "Norrskolan", "Söderskolan", "Björkhagens skola", "Ekbackeskolan", "Åsö gymnasium", "Kunskapsgymnasiet Väst",
  "Täby kommun", "Solna stad", "Lunds kommun", "Örebro kommun", "Västerås stad", "Umeå kommun", "Växjö kommun",
  "Göteborgs Stad", "Malmö stad", "Uppsala kommun", "Nacka kommun", "Sjöstadsskolan", "Älvkullegymnasiet",
  "Riverside Academy", "Ashford Grammar School", "St Mary's College", "Oakwood Primary School",
  "Kingsbridge High School", "Northfield Academy", "Hillcrest School",
];

export const PERSONAL_MAIL_DOMAINS: readonly string[] = [
  "gmail.com", "outlook.com", "hotmail.com", "hotmail.se", "live.se", "icloud.com", "yahoo.se", "telia.com",
  "bredband.net", "protonmail.com",
];
